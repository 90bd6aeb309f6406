"""What is happening now, for the dashboard: per named queue and priority band, what
RabbitMQ holds and the recent tasks by status; tasks submitted and finished per second;
queue wait and run time percentiles.

Every figure but the broker's and the count of unfinished tasks covers a window of recent
time, read from the database's clock, and at most a bounded number of rows
(db/tasks/activity.py): a refresh costs the same on a table of millions.
"""

import asyncio
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import unfinished_counts
from db.models import TaskStatus
from db.tasks import activity, reads
from db.tasks.activity import CHARTED_FINISHES, PERCENTILES, Durations
from publishers.publishing import Publishers
from publishers.topology import Band, band_of
from services.queue_stats import broker_view

# Recent tasks counted by status, at most: the newest of the window.
COUNTED_TASKS = 100_000
# Finished tasks whose durations are measured, at most: the newest of the window.
MEASURED_TASKS = 10_000
# Seconds of the chart read again on each refresh: a task committed late still counts.
REREAD_SECONDS = 5


def _no_tasks() -> dict[str, int]:
    return {status.value: 0 for status in TaskStatus}


@dataclass
class BandActivity:
    """One priority band of a named queue: RabbitMQ's counts (None: not asked, or no
    answer) and the window's tasks by status."""

    band: Band
    ready: int | None = None
    consumers: int | None = None
    tasks: dict[str, int] = field(default_factory=_no_tasks)


@dataclass
class QueueActivity:
    name: str
    bands: list[BandActivity]
    # Whether RabbitMQ was asked, and answered.
    broker_answered: bool = False

    @property
    def tasks(self) -> dict[str, int]:
        """The window's tasks by status, every band."""
        return {status: sum(band.tasks[status] for band in self.bands) for status in _no_tasks()}

    @property
    def ready(self) -> int | None:
        return sum(band.ready or 0 for band in self.bands) if self.broker_answered else None

    @property
    def consumers(self) -> int | None:
        return sum(band.consumers or 0 for band in self.bands) if self.broker_answered else None


@dataclass(frozen=True)
class Overview:
    """The queues, the unfinished tasks, and the window the other figures cover."""

    queues: list[QueueActivity]
    unfinished: int
    durations: Durations
    until: datetime
    window_seconds: int
    # More tasks were created in the window than are counted (COUNTED_TASKS, the newest).
    capped: bool
    with_broker: bool


async def overview(
    *,
    session: AsyncSession,
    publishers: Publishers,
    known: Sequence[str],
    tenants: Collection[str],
    window_seconds: int,
    with_broker: bool,
) -> Overview:
    """The dashboard's live figures for `tenants`: tasks created in the last
    `window_seconds` by queue, band and status, durations of those finished in it, the
    tenants' unfinished tasks, and (`with_broker`) RabbitMQ's counts of the known queues."""
    until = await reads.database_now(session=session)
    since = until - timedelta(seconds=window_seconds)
    counts = await activity.counts_since(
        session=session, tenants=tenants, since=since, cap=COUNTED_TASKS
    )
    queues = {
        name: QueueActivity(name=name, bands=[BandActivity(band) for band in Band])
        for name in sorted({*known, *(count.queue for count in counts)})
    }
    for count in counts:
        band = next(b for b in queues[count.queue].bands if b.band == band_of(count.priority))
        band.tasks[count.status] = band.tasks.get(count.status, 0) + count.count
    if with_broker:
        # All at once: a broker that does not answer costs one timeout, not one per queue.
        await asyncio.gather(*(_ask_broker(publishers, queues[name]) for name in known))
    durations = await activity.durations_since(
        session=session, tenants=tenants, since=since, cap=MEASURED_TASKS
    )
    unfinished = await unfinished_counts(session=session, tenants=sorted(tenants))
    return Overview(
        queues=list(queues.values()),
        unfinished=sum(unfinished.values()),
        durations=durations,
        until=until,
        window_seconds=window_seconds,
        capped=sum(count.count for count in counts) >= COUNTED_TASKS,
        with_broker=with_broker,
    )


async def _ask_broker(publishers: Publishers, queue: QueueActivity) -> None:
    depths = await broker_view(publishers, queue.name)
    if depths is None:
        return
    queue.broker_answered = True
    for depth in depths:
        band = next(b for b in queue.bands if b.band == depth.band)
        band.ready, band.consumers = depth.ready, depth.consumers


@dataclass(frozen=True)
class Throughput:
    """Tasks per second from `start` (Unix time, a whole second) for each second up to the
    last whole one: "submitted" and each charted finished status."""

    start: int
    series: dict[str, list[int]]


async def throughput(
    *,
    session: AsyncSession,
    tenants: Collection[str],
    span_seconds: int,
    after: float | None = None,
) -> Throughput:
    """Tasks of `tenants` submitted, succeeded and dead per second over the last
    `span_seconds`; or, given `after` (a Unix time the caller has counts up to), only the
    seconds since then (and a few before it, which late commits may have changed)."""
    now = math.floor((await reads.database_now(session=session)).timestamp())
    earliest = now - span_seconds
    start = earliest if after is None else max(earliest, min(now, int(after)) - REREAD_SECONDS)
    since = datetime.fromtimestamp(start, tz=UTC)
    counted = await activity.per_second(session=session, tenants=tenants, since=since)
    seconds = range(start, now)
    names = ["submitted", *(status.value for status in CHARTED_FINISHES)]
    return Throughput(
        start=start,
        series={name: [counted[name].get(second, 0) for second in seconds] for name in names},
    )


PERCENTILE_NAMES = tuple(f"p{round(fraction * 100)}" for fraction in PERCENTILES)
