"""CPU spent during a measured window by each part: the API, the worker, RabbitMQ and
PostgreSQL.

PostgreSQL is a tree of processes: a backend per connection, forked and reaped as pools
open and close connections, and background processes (WAL writer, checkpointer, …) that
serve every database. The tree is sampled every SAMPLE_SECONDS; a backend counts for this
run when its process title names the run's database. The whole tree's total is exact
(live processes plus what the postmaster reaped) and includes other databases' backends:
on a shared server the difference is other people's work.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from benchmarks import procfs

SAMPLE_SECONDS = 0.25


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds used in the window, by part."""

    api: float
    worker: float
    rabbitmq: float
    # This run's backends (and autovacuum on its database) plus the background processes.
    postgres: float
    # Every PostgreSQL process, this run's or not.
    postgres_all: float
    # Connections to the run's database opened in the window (each one a forked backend).
    connections_opened: int


def _kind(title: str, database: str) -> str:
    """'run' for this database's backends, 'other' for other ones', else 'background'."""
    words = title.split()
    if database in words:
        return "run"
    if any("(" in word or word == "[local]" for word in words) or "worker" in words:
        return "other"
    return "background"


@dataclass
class PostgresMeter:
    """CPU of the PostgreSQL process tree since `start()`."""

    database: str
    base: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    born: set[int] = field(default_factory=set)
    total_at_start: float = 0.0
    total_now: float = 0.0

    def start(self) -> None:
        self.total_at_start = self.total_now = self._sample(first=True)

    def sample(self) -> None:
        self.total_now = self._sample(first=False)

    def used(self, *kinds: str) -> float:
        """CPU seconds of the processes of these kinds ('run', 'background', 'other')."""
        return sum(self.last[pid] - self.base[pid] for pid in self._pids(kinds))

    @property
    def opened(self) -> int:
        """This run's backends that started in the window."""
        return len(self.born & set(self._pids(("run",))))

    @property
    def used_by_all(self) -> float:
        return self.total_now - self.total_at_start

    def _pids(self, kinds: tuple[str, ...]) -> Iterator[int]:
        return (pid for pid, kind in self.kinds.items() if kind in kinds)

    def _sample(self, *, first: bool) -> float:
        """Read every PostgreSQL process; the tree's CPU so far, reaped backends included."""
        stats = {pid: procfs.stat(pid) for pid in procfs.pids_named("postgres")}
        total = 0.0
        for pid, found in stats.items():
            if found is None:
                continue
            if pid not in self.base:
                # A backend born during the window spent all its CPU in it.
                self.base[pid] = found.cpu if first else 0.0
                if not first:
                    self.born.add(pid)
            self.last[pid] = found.cpu
            if self.kinds.get(pid) != "run":
                self.kinds[pid] = _kind(procfs.title(pid), self.database)
            total += found.cpu
            if found.ppid not in stats:  # the postmaster
                total += found.reaped_cpu
        return total


@dataclass
class CpuMeter:
    """Measures from `start()` to `stop()`; samples PostgreSQL in the background meanwhile."""

    api_pid: int
    worker_pid: int
    database: str
    postgres: PostgresMeter = field(init=False)
    _base: dict[str, float] = field(default_factory=dict)
    _sampler: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.postgres = PostgresMeter(self.database)

    def start(self) -> None:
        self._base = self._fixed()
        self.postgres.start()
        self._sampler = asyncio.create_task(self._sample_forever())

    async def stop(self) -> CpuUsage:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        self.postgres.sample()
        now = self._fixed()
        used = {part: now[part] - self._base[part] for part in now}
        return CpuUsage(
            api=used["api"],
            worker=used["worker"],
            rabbitmq=used["rabbitmq"],
            postgres=self.postgres.used("run", "background"),
            postgres_all=self.postgres.used_by_all,
            connections_opened=self.postgres.opened,
        )

    def _fixed(self) -> dict[str, float]:
        """CPU so far of the processes that live through the window."""
        return {
            "api": procfs.tree_cpu_seconds(self.api_pid),
            "worker": procfs.tree_cpu_seconds(self.worker_pid),
            "rabbitmq": sum(procfs.cpu_seconds(pid) for pid in procfs.pids_named("beam.smp")),
        }

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self.postgres.sample()
