"""Task runs that a lost broker connection cannot cut short.

The AMQP client runs each delivery in a task of its channel and cancels every one of them
when the channel closes: a node lost, a connection cut. A handler stopped at an arbitrary
await then loses its work, and a database call cut mid-statement can leave its pooled
connection checked out for good. So a run is a task of its own: the delivery waits for it,
and when the delivery is cancelled the run still ends and commits its outcome (the message,
requeued by the broker, then finds the task finished). Only the worker's own shutdown
cancels runs, once its grace period is over: each then hands its task back.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


class InFlight:
    """The runs this worker process has going."""

    def __init__(self) -> None:
        self._runs: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._runs)

    async def run(self, work: Coroutine[Any, Any, Result]) -> Result:
        """`work`'s result; if the caller is cancelled, `work` still runs to its end."""
        run = asyncio.create_task(work)
        self._runs.add(run)
        run.add_done_callback(self._ended)
        return await asyncio.shield(run)

    async def stop(self, *, wait_seconds: float) -> None:
        """Cancel the runs still going and wait up to `wait_seconds` for them to hand back."""
        runs = list(self._runs)
        for run in runs:
            run.cancel()
        if runs:
            await asyncio.wait(runs, timeout=wait_seconds)

    def _ended(self, run: asyncio.Task[Any]) -> None:
        self._runs.discard(run)
        # A run whose delivery was cancelled has no one to raise to.
        if not run.cancelled() and run.exception() is not None:
            logger.debug("a run ended in an error after its delivery was gone: %r", run.exception())
