"""Waiting, bounded, for a condition to hold."""

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, within: float, what: str, interval: float = 0.2
) -> None:
    """Poll `condition` until it is true; TimeoutError naming `what` after `within` s."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {within:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
