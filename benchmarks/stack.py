"""One system under test running: its API process and its worker process."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks import broker
from benchmarks.processes import Process
from benchmarks.systems import System
from benchmarks.waiting import wait_for

START_TIMEOUT_SECONDS = 60.0
# A process that exits while starting (on a shared server: no connection slot free) is
# started again after a pause, this many times in all.
START_ATTEMPTS = 3
START_RETRY_PAUSE_SECONDS = 5.0


class ProcessExitedError(RuntimeError):
    """A process under test exited; the message ends with its log."""


@dataclass
class Stack:
    """Starts the API and the worker together; ready once `/ready` answers 200 and the
    worker consumes the work queue."""

    system: System
    log_dir: Path
    # Names this run's log files: <log_dir>/<label>-api.log, <label>-worker.log.
    label: str
    api: Process = field(init=False)
    worker: Process = field(init=False)

    def __post_init__(self) -> None:
        system = self.system
        self.api = Process(f"{system.name} API", system.api_args, self._log("api"), system.env)
        self.worker = Process(
            f"{system.name} worker", system.worker_args, self._log("worker"), system.env
        )

    def _log(self, part: str) -> Path:
        return self.log_dir / f"{self.label}-{part}.log"

    async def start(self) -> "Stack":
        for attempt in range(1, START_ATTEMPTS + 1):
            self.api.start()
            self.worker.start()
            try:
                await wait_for(self._api_ready, within=START_TIMEOUT_SECONDS, what="the API")
                await wait_for(self._consuming, within=START_TIMEOUT_SECONDS, what="the worker")
                return self
            except ProcessExitedError as error:
                self.stop()
                if attempt == START_ATTEMPTS:
                    raise
                print(f"  {error}\n  starting {self.system.name} again", file=sys.stderr)
                await asyncio.sleep(START_RETRY_PAUSE_SECONDS)
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    async def start_api(self) -> None:
        """Start the API alone (the worker later: a backlog builds up meanwhile)."""
        await self._start_one(self.api, self._api_ready, "the API")

    async def start_worker(self) -> None:
        await self._start_one(self.worker, self._consuming, "the worker")

    async def _start_one(
        self, process: Process, ready: Callable[[], Awaitable[bool]], what: str
    ) -> None:
        """Start `process` and wait until it is `ready`; stop everything if it never is."""
        process.start()
        try:
            await wait_for(ready, within=START_TIMEOUT_SECONDS, what=what)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.worker.stop()
        self.api.stop()

    def check_alive(self) -> None:
        """Raise with the log of a process that died (one not started yet is not dead)."""
        for process in (self.api, self.worker):
            if process.popen is not None and not process.alive():
                raise ProcessExitedError(f"{process.name} exited:\n{process.log_tail()}")

    async def _api_ready(self) -> bool:
        self.check_alive()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{self.system.url}/ready", timeout=aiohttp.ClientTimeout(2)) as answer,
            ):
                status: int = answer.status
        except (aiohttp.ClientError, TimeoutError):
            return False
        return status == 200

    async def _consuming(self) -> bool:
        self.check_alive()
        return await broker.consumer_count(self.system.queue) > 0
