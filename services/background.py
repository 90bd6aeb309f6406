"""A coroutine that runs for the life of a process (the lease keeper, the outbox relay)."""

import asyncio
import contextlib


class BackgroundLoop:
    """Started once after the process is up, cancelled when it shuts down."""

    name = "background-loop"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_forever(self) -> None:
        raise NotImplementedError
