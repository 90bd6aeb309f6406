"""One system under test running: its API process and its worker process."""

from dataclasses import dataclass, field

import aiohttp

from benchmarks import broker
from benchmarks.processes import Process
from benchmarks.systems import System
from benchmarks.waiting import wait_for

START_TIMEOUT_SECONDS = 60.0


@dataclass
class Stack:
    """Starts the API and the worker together; ready once `/ready` answers 200 and the
    worker consumes the work queue."""

    system: System
    api: Process = field(init=False)
    worker: Process = field(init=False)

    def __post_init__(self) -> None:
        name, env = self.system.name, self.system.env
        self.api = Process(f"{name}-api", self.system.api_args, env)
        self.worker = Process(f"{name}-worker", self.system.worker_args, env)

    async def start(self) -> "Stack":
        self.api.start()
        self.worker.start()
        try:
            await wait_for(self._api_ready, within=START_TIMEOUT_SECONDS, what="the API")
            await wait_for(self._consuming, within=START_TIMEOUT_SECONDS, what="the worker")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.api.stop()

    def check_alive(self) -> None:
        """Raise with the log of a process that died."""
        for process in (self.api, self.worker):
            if not process.alive():
                raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")

    async def _api_ready(self) -> bool:
        self.check_alive()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{self.system.url}/ready", timeout=aiohttp.ClientTimeout(2)) as answer,
            ):
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _consuming(self) -> bool:
        self.check_alive()
        return await broker.consumer_count(self.system.queue) > 0
