"""A whole Taskgate (API processes, worker processes) on queues of its own, and a load
generator that submits over HTTP the way a client would."""

import asyncio
import collections
import contextlib
import itertools
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from services.named_queues import known_queues
from tests.support import processes, rabbit
from tests.support.database import new_session
from tests.support.settings import AUTH_HEADERS, SETTINGS
from tests.support.waiting import wait_for

TERMINAL = ("succeeded", "dead", "cancelled")
# How long the load waits for the API to answer one submit before sending it again.
SUBMIT_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@dataclass
class Stack:
    """`apis` API processes and `workers` worker processes sharing queues no other test
    uses."""

    workers: int = 2
    env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"taskgate-chaos-{uuid.uuid4().hex[:8]}")
    # The first API process, on `port`; the others (`apis` - 1) are in `api_replicas`.
    api: processes.Process | None = None
    worker_processes: list[processes.Process] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    apis: int = 1
    # Each further API process, by its port.
    api_replicas: dict[int, processes.Process] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        return f"{self.prefix}.tasks"

    @property
    def work_queue(self) -> str:
        """The default queue's normal band, which every worker consumes."""
        return rabbit.band_queue("default", base=self.queue)

    def process_env(self) -> dict[str, str]:
        return {
            "RMQ_QUEUE_EXCHANGE": self.prefix,
            "RMQ_QUEUE_NAME": self.queue,
            "RMQ_QUEUE_DEAD_LETTER_EXCHANGE": f"{self.prefix}.dlx",
            "RMQ_QUEUE_DEAD_LETTER_NAME": f"{self.prefix}.dead-letter",
            "TASK_LEASE_SECONDS": "3",
            "OUTBOX_INTERVAL_SECONDS": "0.5",
            "OUTBOX_GRACE_SECONDS": "2",
            "WORKER_GRACE_SECONDS": "5",
            # While RabbitMQ is down each submit waits this long for a confirm before leaving
            # its task to the outbox: short, so outage tests see the API keep accepting.
            "PUBLISH_TIMEOUT_SECONDS": "1",
            **self.env,
        }

    async def start(self) -> "Stack":
        self.api = await self.start_api(self.port)
        for _ in range(self.apis - 1):
            port = free_port()
            self.api_replicas[port] = await self.start_api(port)
        for _ in range(self.workers):
            await self.start_worker()
        return self

    async def start_worker(self) -> processes.Process:
        expected = len([w for w in self.worker_processes if w.alive()]) + 1
        worker = processes.worker(env=self.process_env(), log_level="warning").start()
        self.worker_processes.append(worker)

        async def consuming() -> bool:
            assert worker.alive(), worker.log()[-3000:]
            return await rabbit.consumer_count(self.work_queue) >= expected

        await wait_for(consuming, timeout=30, what="a new worker to consume")
        return worker

    async def start_api(self, port: int) -> processes.Process:
        """An API process on `port`, once it is ready."""
        api = processes.api(port=port, env=self.process_env()).start()

        async def ready() -> bool:
            assert api.alive(), api.log()[-3000:]
            try:
                async with httpx.AsyncClient() as http:
                    response = await http.get(f"{local_url(port)}/ready", timeout=2)
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        await wait_for(ready, timeout=30, what="the API to be ready")
        return api

    @property
    def url(self) -> str:
        """The first API's."""
        return local_url(self.port)

    @property
    def urls(self) -> list[str]:
        """Every API process's."""
        return [self.url, *(local_url(port) for port in self.api_replicas)]

    @property
    def api_processes(self) -> list[processes.Process]:
        return [p for p in [self.api, *self.api_replicas.values()] if p is not None]

    def stop(self) -> None:
        for process in [*self.worker_processes, *self.api_processes]:
            process.stop()

    async def delete_queues(self) -> None:
        await rabbit.delete_queues(
            *rabbit.topology_queues(
                known_queues(SETTINGS), base=self.queue, dead_letter=f"{self.prefix}.dead-letter"
            )
        )

    async def running(self) -> AsyncIterator["Stack"]:
        """Start the stack for a fixture's `yield`; afterwards stop it, show its logs and
        remove its queues, also when starting failed."""
        try:
            await self.start()
            yield self
        finally:
            self.stop()
            print(self.logs())
            await self.delete_queues()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} {p.pid}\n{p.log()[-3000:]}"
            for p in [*self.worker_processes, *self.api_processes]
        )


@dataclass
class Load:
    """Submits tasks over HTTP at a bounded concurrency, to each API process in turn;
    records what was accepted."""

    stack: Stack
    concurrency: int = 32
    # Tasks per request: 1 sends single submits, more sends batches of that many.
    batch: int = 1
    accepted: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    # Tasks accepted, by the URL of the API process that accepted them.
    accepted_by: dict[str, int] = field(default_factory=dict)
    # Submits the API left unanswered for the client's whole timeout (then sent again).
    timeouts: int = 0
    _left: int | None = None
    _stopping: bool = False

    async def submit(self, count: int, body: dict[str, Any], *, deadline_s: float = 120) -> None:
        """Submit `count` tasks; a 503 is retried after its Retry-After, as a client would."""
        self._left = count
        await self._run(body, deadline_s)

    async def submit_until_stopped(self, body: dict[str, Any], *, deadline_s: float = 120) -> None:
        """Submit tasks, as `submit` does, until `stop()` is called."""
        self._left = None
        await self._run(body, deadline_s)

    def stop(self) -> None:
        """Let each submitter finish the submit it is making, then end."""
        self._stopping = True

    async def accepted_at_least(self, count: int, *, timeout: float = 60, what: str) -> None:
        """Wait until `count` submits in all were accepted; fail naming `what` after `timeout`."""

        async def enough() -> bool:
            return len(self.accepted) >= count

        await wait_for(enough, timeout=timeout, interval=0.05, what=what)

    def _take(self) -> bool:
        if self._stopping:
            return False
        if self._left is None:
            return True
        self._left -= self.batch
        return self._left >= 0

    async def _run(self, body: dict[str, Any], deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        async with contextlib.AsyncExitStack() as clients:
            apis = [
                await clients.enter_async_context(
                    httpx.AsyncClient(headers=AUTH_HEADERS, base_url=url, timeout=SUBMIT_TIMEOUT)
                )
                for url in self.stack.urls
            ]
            in_turn = itertools.cycle(apis)
            await asyncio.gather(
                *(self._submitter(in_turn, body, deadline) for _ in range(self.concurrency))
            )

    async def _submitter(
        self, apis: "itertools.cycle[httpx.AsyncClient]", body: dict[str, Any], deadline: float
    ) -> None:
        while self._take():
            while True:
                assert time.monotonic() < deadline, "submitting took too long"
                http = next(apis)
                try:
                    if self.batch == 1:
                        response = await http.post("/api/v1/queue/", json=body)
                    else:
                        tasks = {"tasks": [body] * self.batch}
                        response = await http.post("/api/v1/queue/batch", json=tasks)
                except httpx.TimeoutException:
                    self.timeouts += 1
                    continue
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
                    continue
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code == 202:
                    answer = response.json()
                    ids = [answer["id"]] if self.batch == 1 else [i["id"] for i in answer["items"]]
                    self.accepted.extend(ids)
                    url = str(http.base_url)
                    self.accepted_by[url] = self.accepted_by.get(url, 0) + len(ids)
                    break
                assert response.status_code == 503, response.text
                await asyncio.sleep(float(response.headers["Retry-After"]))


async def api_answers(http: httpx.AsyncClient) -> bool:
    """Whether the API process is up (whatever its dependencies say)."""
    try:
        return (await http.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


async def task_states(ids: list[str]) -> dict[str, str]:
    """Status of each task, straight from PostgreSQL."""
    async with new_session() as session:
        rows = await session.execute(
            text("SELECT id::text, status FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids},
        )
        return {row.id: row.status for row in rows}


async def wait_settled(ids: list[str], *, timeout: float) -> dict[str, str]:
    """Wait until every task is terminal; their states."""

    async def settled() -> dict[str, str] | None:
        states = await task_states(ids)
        if len(states) == len(ids) and all(s in TERMINAL for s in states.values()):
            return states
        return None

    try:
        return await wait_for(settled, timeout=timeout, interval=0.5, what="every task to finish")
    except AssertionError as timed_out:
        states = await task_states(ids)
        counts = collections.Counter(states.values())
        stuck = [i for i, s in states.items() if s not in TERMINAL][:5]
        raise AssertionError(f"{timed_out}; by status: {dict(counts)}; e.g. {stuck}") from None


async def counter(table: str, ids: list[str]) -> dict[str, int]:
    """Rows per task in a handler-side counter table."""
    async with new_session() as session:
        rows = await session.execute(
            text(
                f"SELECT task_id::text AS id, count(*) AS n FROM {table} "
                "WHERE task_id = ANY(CAST(:ids AS uuid[])) GROUP BY task_id"
            ),
            {"ids": ids},
        )
        return {row.id: row.n for row in rows}


@dataclass
class Report:
    """What a reliability test measured, for the README's Guarantees table."""

    name: str
    accepted: int
    finished: int
    lost: int
    completed_twice: int
    restarted: int
    seconds: float

    def line(self) -> str:
        return (
            f"{self.name}: accepted={self.accepted} finished={self.finished} lost={self.lost} "
            f"completed_twice={self.completed_twice} restarted_after_crash={self.restarted} "
            f"({self.seconds:.1f} s)"
        )


async def verify(name: str, ids: list[str], *, started: float, timeout: float) -> Report:
    """Every accepted task succeeded, once in effect; the report of it."""
    states = await wait_settled(ids, timeout=timeout)
    completions = await counter("test_task_completions", ids)
    starts = await counter("test_task_starts", ids)
    report = Report(
        name=name,
        accepted=len(ids),
        finished=sum(1 for s in states.values() if s == "succeeded"),
        lost=len(set(ids) - set(states)),
        completed_twice=sum(1 for n in completions.values() if n > 1),
        restarted=sum(1 for n in starts.values() if n > 1),
        seconds=time.monotonic() - started,
    )
    assert report.lost == 0, report.line()
    assert report.finished == len(ids), (report.line(), _not_succeeded(states))
    assert report.completed_twice == 0, report.line()
    assert all(completions.get(i) == 1 for i in ids), report.line()
    return report


def _not_succeeded(states: dict[str, str]) -> dict[str, str]:
    return dict([(k, v) for k, v in states.items() if v != "succeeded"][:5])
