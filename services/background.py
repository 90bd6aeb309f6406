"""Coroutines that run for the life of a process (the lease keeper, the outbox relay, the
retention sweep)."""

import asyncio
import contextlib
import logging

logger = logging.getLogger(__name__)


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


class PeriodicJob(BackgroundLoop):
    """Runs `run_once` every `interval` seconds, and at once again while it says more work
    is waiting; a run that fails is logged and tried again after the interval."""

    interval: float

    async def run_once(self) -> bool:
        """Do one batch of the work; whether more is waiting."""
        raise NotImplementedError

    async def run_forever(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
            except Exception as error:
                logger.warning("%s could not run: %s", self.name, error)
            await asyncio.sleep(self.interval)
