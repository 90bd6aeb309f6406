"""Reading tasks: one, a page of them newest first (keyset pagination, stable while tasks
arrive), counts."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import Task
from db.tasks.filters import DeadLetterFilter, TaskFilter

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """The position after which the next page starts: (created_at, id) of the last task."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Cursor | None


async def get_task(*, session: AsyncSession, task_id: uuid.UUID) -> Task | None:
    """The task with this id, if there is one."""
    return await session.get(Task, task_id)


async def task_status(*, session: AsyncSession, task_id: uuid.UUID) -> str | None:
    """The task's status, read afresh; None if there is no such task."""
    return await session.scalar(select(Task.status).where(Task.id == task_id))


async def database_now(*, session: AsyncSession) -> datetime:
    """The database's clock (the moment a bulk action starts, in the rows' own time)."""
    return (await session.execute(select(func.now()))).scalar_one()


async def page_of_tasks(
    *, session: AsyncSession, task_filter: TaskFilter, after: Cursor | None, limit: int
) -> Page[Task]:
    """Up to `limit` tasks matching the filter, newest first, from just after `after`."""
    query = page_query(task_filter, after=after, size=limit + 1)
    return _page(list(await session.scalars(query)), limit)


def page_query(task_filter: TaskFilter, *, after: Cursor | None, size: int) -> Select[Any]:
    """The statement reading up to `size` tasks matching the filter, newest first, from
    just after `after` (public so that its plan can be checked)."""
    branches = [
        _newest_first(select(Task).where(*conditions), after=after, size=size)
        for conditions in task_filter.branches()
    ]
    if len(branches) == 1:
        return branches[0]
    # Each branch is limited to a page and already in order: PostgreSQL merges them (Merge
    # Append) and stops once the page is full.
    matching = aliased(Task, union_all(*branches).subquery("matching"))
    return select(matching).order_by(matching.created_at.desc(), matching.id.desc()).limit(size)


async def page_of_dead(
    *, session: AsyncSession, selection: DeadLetterFilter, after: Cursor | None, limit: int
) -> Page[Task]:
    """Up to `limit` dead tasks matching the filter, newest first, from just after `after`."""
    query = _newest_first(select(Task).where(*selection.conditions()), after=after, size=limit + 1)
    return _page(list(await session.scalars(query)), limit)


async def counts_by_queue_and_status(*, session: AsyncSession) -> dict[str, dict[str, int]]:
    """How many tasks each named queue holds in each status (those it holds any of)."""
    rows = await session.execute(
        select(Task.queue, Task.status, func.count()).group_by(Task.queue, Task.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for queue, status, count in rows:
        counts.setdefault(queue, {})[status] = count
    return counts


def _newest_first(query: Select[Any], *, after: Cursor | None, size: int) -> Select[Any]:
    """`query`'s tasks newest first, up to `size` of them, from just after `after`; read
    through an index ordered (created_at DESC, id DESC) after the filtered column."""
    if after is not None:
        query = query.where(tuple_(Task.created_at, Task.id) < (after.created_at, after.id))
    return query.order_by(Task.created_at.desc(), Task.id.desc()).limit(size)


def _page(rows: list[Task], limit: int) -> Page[Task]:
    """The page made of `rows`, read as up to `limit + 1` rows newest first: the row past
    the limit only says that a next page exists."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    last = rows[limit - 1]
    return Page(items=rows[:limit], next_cursor=Cursor(created_at=last.created_at, id=last.id))
