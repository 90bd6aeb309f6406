"""Reading tasks: one, a page of them newest first (keyset pagination, stable while tasks
arrive), counts."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, func, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import Task
from db.tasks.filters import DeadLetterFilter, TaskFilter

T = TypeVar("T")


class HasId(Protocol):
    id: uuid.UUID


# A row of a keyset listing: it has an id, the tiebreak of its order.
Keyed = TypeVar("Keyed", bound=HasId)


@dataclass(frozen=True)
class Cursor:
    """The position after which the next page starts: (created_at, id) of the last task."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Cursor | None


async def get_task(*, session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> Task | None:
    """The task with this id, if there is one (of `tenant`, unless None)."""
    task = await session.get(Task, task_id)
    if task is None or (tenant is not None and task.tenant != tenant):
        return None
    return task


async def task_status(
    *, session: AsyncSession, task_id: uuid.UUID, tenant: str | None
) -> str | None:
    """The task's status, read afresh; None if there is no such task (of `tenant`)."""
    query = select(Task.status).where(Task.id == task_id)
    if tenant is not None:
        query = query.where(Task.tenant == tenant)
    return await session.scalar(query)


async def database_now(*, session: AsyncSession) -> datetime:
    """The database's clock (the moment a bulk action starts, in the rows' own time)."""
    return (await session.execute(select(func.now()))).scalar_one()


async def page_of_tasks(
    *, session: AsyncSession, task_filter: TaskFilter, after: Cursor | None, limit: int
) -> Page[Task]:
    """Up to `limit` tasks matching the filter, newest first, from just after `after`."""
    query = page_query(task_filter, after=after, size=limit + 1)
    return page_of(list(await session.scalars(query)), limit)


def page_query(task_filter: TaskFilter, *, after: Cursor | None, size: int) -> Select[Any]:
    """The statement reading up to `size` tasks matching the filter, newest first, from
    just after `after` (public so that its plan can be checked)."""
    branches = [
        newest_first(
            select(Task).where(*conditions),
            moment=Task.created_at,
            key=Task.id,
            after=after,
            size=size,
        )
        for conditions in task_filter.branches()
    ]
    return _merged(branches, size)


def _merged(branches: list[Select[Any]], size: int) -> Select[Any]:
    """The newest `size` tasks of the branches, each already in page order."""
    if len(branches) == 1:
        return branches[0]
    # Each branch is limited to a page and already in order: PostgreSQL merges them (Merge
    # Append) and stops once the page is full.
    matching = aliased(Task, union_all(*branches).subquery("matching"))
    return select(matching).order_by(matching.created_at.desc(), matching.id.desc()).limit(size)


async def page_of_dead(
    *, session: AsyncSession, selection: DeadLetterFilter, after: Cursor | None, limit: int
) -> Page[Task]:
    """Up to `limit` dead tasks matching the filter, newest first, from just after `after`;
    one ordered index scan per tenant of the filter, merged."""
    size = limit + 1
    per_tenant = (
        [selection]
        if selection.tenants is None
        else [selection.within(frozenset({tenant})) for tenant in sorted(selection.tenants)]
    )
    branches = [
        newest_first(
            select(Task).where(*part.conditions()),
            moment=Task.created_at,
            key=Task.id,
            after=after,
            size=size,
        )
        for part in per_tenant
    ]
    return page_of(list(await session.scalars(_merged(branches, size))), limit)


async def counts_by_queue_and_status(
    *, session: AsyncSession, tenant: str | None
) -> dict[str, dict[str, int]]:
    """How many tasks each named queue holds in each status (those it holds any of), of
    `tenant` (None: of every tenant)."""
    query = select(Task.queue, Task.status, func.count()).group_by(Task.queue, Task.status)
    if tenant is not None:
        query = query.where(Task.tenant == tenant)
    rows = await session.execute(query)
    counts: dict[str, dict[str, int]] = {}
    for queue, status, count in rows:
        counts.setdefault(queue, {})[status] = count
    return counts


def newest_first(
    query: Select[Any], *, moment: Any, key: Any, after: Cursor | None, size: int
) -> Select[Any]:
    """`query`'s rows newest first by (`moment`, `key`), up to `size` of them, from just
    after `after`; read through an index ordered (moment DESC, key DESC) after the filtered
    columns. Every keyset listing (tasks, schedules, webhook deliveries) pages this way."""
    if after is not None:
        query = query.where(tuple_(moment, key) < (after.created_at, after.id))
    return query.order_by(moment.desc(), key.desc()).limit(size)


def page_of(rows: list[Keyed], limit: int, *, moment: str = "created_at") -> Page[Keyed]:
    """The page made of `rows`, read by `newest_first` with a size of `limit + 1`: the row
    past the limit only says that a next page exists; the cursor is the last row's
    (`moment`, id)."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    last = rows[limit - 1]
    return Page(
        items=rows[:limit],
        next_cursor=Cursor(created_at=getattr(last, moment), id=last.id),
    )
