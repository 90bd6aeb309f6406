"""What the dashboard aggregates: tasks by queue, priority and status, tasks submitted and
finished per second, and queue wait and run time percentiles.

Every statement is bounded by time (a `since` the caller gives, from the database's clock)
and reads the tasks of the given tenants through an index with the tenant in front:
(tenant, created_at, id) for what was submitted, (tenant, finished_at) for what finished
(migration 0008). Those that read whole rows are also bounded in rows (`cap`), so a burst of
tasks cannot make a refresh slow. The `*_query` functions build the very statements, so
that their plans can be checked (benchmarks/explain_dashboard.py).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, Subquery, and_, cast, func, select, union_all
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.models import Task, TaskStatus

# The finished states the throughput chart shows, beside the submitted tasks.
CHARTED_FINISHES = (TaskStatus.SUCCEEDED, TaskStatus.DEAD)
# The finished states whose run times are measured.
MEASURED_FINISHES = (TaskStatus.SUCCEEDED, TaskStatus.DEAD)
PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class StatusCount:
    """Tasks of one queue, priority and status."""

    queue: str
    priority: int
    status: str
    count: int


@dataclass(frozen=True)
class Durations:
    """Percentiles (PERCENTILES, in seconds) of the time tasks waited before their first
    attempt started, and of their last attempt's run time; None when no task was measured."""

    wait: tuple[float, ...] | None
    run: tuple[float, ...] | None
    waited: int
    ran: int


def _second(column: Any) -> Any:
    """The whole second (Unix time) a moment falls in."""
    return cast(func.floor(func.extract("epoch", column)), Float)


def _newest(
    tenants: Collection[str],
    columns: list[Any],
    conditions: list[ColumnElement[bool]],
    *,
    order: InstrumentedAttribute[Any],
    cap: int,
) -> Subquery:
    """The newest `cap` rows (by `order`) of `tenants` matching `conditions`: one ordered
    index range per tenant, each stopped at `cap`, merged (Merge Append)."""
    branches = [
        select(*columns, order.label("moment"))
        .where(Task.tenant == tenant, *conditions)
        .order_by(order.desc())
        .limit(cap)
        for tenant in sorted(tenants)
    ]
    if len(branches) == 1:
        return branches[0].subquery("newest")
    merged = union_all(*branches).subquery("merged")
    return select(merged).order_by(merged.c.moment.desc()).limit(cap).subquery("newest")


def counts_query(tenants: Collection[str], *, since: datetime, cap: int) -> Select[Any]:
    """Tasks created since `since` by queue, priority and status: the newest `cap` of them
    (read newest first on (tenant, created_at, id)), grouped."""
    newest = _newest(
        tenants,
        [Task.queue, Task.priority, Task.status],
        [Task.created_at >= since],
        order=Task.created_at,
        cap=cap,
    )
    return select(newest.c.queue, newest.c.priority, newest.c.status, func.count()).group_by(
        newest.c.queue, newest.c.priority, newest.c.status
    )


async def counts_since(
    *, session: AsyncSession, tenants: Collection[str], since: datetime, cap: int
) -> list[StatusCount]:
    """The newest `cap` tasks of `tenants` created since `since`, counted by queue,
    priority and status."""
    if not tenants:
        return []
    rows = await session.execute(counts_query(tenants, since=since, cap=cap))
    return [StatusCount(queue, priority, status, count) for queue, priority, status, count in rows]


def submitted_query(tenants: Collection[str], *, since: datetime) -> Select[Any]:
    """Tasks created since `since`, per second (an index-only range of (tenant,
    created_at, id))."""
    second = _second(Task.created_at).label("second")
    return (
        select(second, func.count())
        .where(Task.tenant.in_(sorted(tenants)), Task.created_at >= since)
        .group_by(second)
    )


def finished_query(tenants: Collection[str], *, since: datetime) -> Select[Any]:
    """Tasks that succeeded or died since `since`, per second and status (a range of
    (tenant, finished_at))."""
    second = _second(Task.finished_at).label("second")
    return (
        select(second, Task.status, func.count())
        .where(
            Task.tenant.in_(sorted(tenants)),
            Task.finished_at >= since,
            Task.finished_at.is_not(None),
            Task.status.in_(CHARTED_FINISHES),
        )
        .group_by(second, Task.status)
    )


async def per_second(
    *, session: AsyncSession, tenants: Collection[str], since: datetime
) -> dict[str, dict[int, int]]:
    """Tasks of `tenants` submitted, succeeded and dead since `since`: for each of
    "submitted" and the charted statuses, a count per second (Unix time) that has any."""
    series: dict[str, dict[int, int]] = {"submitted": {}}
    series.update({status.value: {} for status in CHARTED_FINISHES})
    if not tenants:
        return series
    for second, count in await session.execute(submitted_query(tenants, since=since)):
        series["submitted"][int(second)] = count
    for second, status, count in await session.execute(finished_query(tenants, since=since)):
        series[status][int(second)] = count
    return series


def durations_query(tenants: Collection[str], *, since: datetime, cap: int) -> Select[Any]:
    """Percentiles over the newest `cap` tasks of `tenants` that succeeded or died since
    `since` (read newest first on (tenant, finished_at)): the wait of those that ran once
    and were never replayed (from when they were due to their start), and the run time of
    every one's last attempt."""
    recent = _newest(
        tenants,
        [Task.created_at, Task.run_at, Task.started_at, Task.attempts, Task.replays],
        [
            Task.finished_at >= since,
            Task.finished_at.is_not(None),
            Task.status.in_(MEASURED_FINISHES),
            Task.started_at.is_not(None),
        ],
        order=Task.finished_at,
        cap=cap,
    )
    due = func.greatest(recent.c.created_at, func.coalesce(recent.c.run_at, recent.c.created_at))
    wait = func.extract("epoch", recent.c.started_at - due)
    run = func.extract("epoch", recent.c.moment - recent.c.started_at)
    first_run = and_(recent.c.attempts == 1, recent.c.replays == 0)
    fractions = array(PERCENTILES, type_=Float)
    return select(
        func.percentile_cont(fractions).within_group(wait).filter(first_run),
        func.percentile_cont(fractions).within_group(run),
        func.count().filter(first_run),
        func.count(),
    ).select_from(recent)


async def durations_since(
    *, session: AsyncSession, tenants: Collection[str], since: datetime, cap: int
) -> Durations:
    """Queue wait and run time percentiles of the newest `cap` tasks of `tenants` that
    finished since `since`."""
    if not tenants:
        return Durations(wait=None, run=None, waited=0, ran=0)
    wait, run, waited, ran = (
        await session.execute(durations_query(tenants, since=since, cap=cap))
    ).one()
    return Durations(
        wait=None if wait is None else tuple(float(value) for value in wait),
        run=None if run is None else tuple(float(value) for value in run),
        waited=waited,
        ran=ran,
    )
