"""The dead-letter queue in PostgreSQL: recording what reached it, finding and reading it.

Replaying (`app/services/replay.py`) and purging (`app/services/purge.py`) select dead
letters through the same `DeadLetterFilter`.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.errors import (
    TaskChangedError,
    TaskgateError,
    TaskNotDeadError,
    TaskNotFoundError,
)
from app.services.pagination import Cursor, Page, page_of
from app.services.task_filter import newest_first
from db.models import TERMINAL_STATUSES, Task, TaskStatus


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead tasks: every condition given must hold; none given means all of them."""

    names: Sequence[str] = ()
    # A case-insensitive substring of the error; `%` and `_` in it are literal.
    error: str | None = None
    # finished_at strictly after / strictly before.
    died_after: datetime | None = None
    died_before: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.names or self.error or self.died_after or self.died_before)

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions selecting these dead tasks."""
        conditions: list[ColumnElement[bool]] = [Task.status == TaskStatus.DEAD]
        if self.names:
            conditions.append(Task.name.in_(self.names))
        if self.error:
            conditions.append(Task.error.icontains(self.error, autoescape=True))
        if self.died_after is not None:
            conditions.append(Task.finished_at > self.died_after)
        if self.died_before is not None:
            conditions.append(Task.finished_at < self.died_before)
        return conditions


def is_message_record(task: Task) -> bool:
    """Whether the dead letter records a message no task stands behind (unreadable, or
    naming an id that was never submitted) rather than a task that died.

    `record_dead_letter` inserts such a record already dead, so it is created and finished
    by one statement; a submitted task always finishes in a later transaction.
    """
    return task.finished_at is not None and task.created_at == task.finished_at


async def record_dead_letter(
    *,
    session: AsyncSession,
    task_id: uuid.UUID | None,
    name: str,
    payload: dict[str, Any],
    reason: str,
) -> uuid.UUID:
    """Mark the task dead with the reason, or record the unreadable message as a dead task."""
    if task_id is not None:
        marked = await session.execute(
            update(Task)
            .where(Task.id == task_id, Task.status.not_in(TERMINAL_STATUSES))
            .values(status=TaskStatus.DEAD, error=reason, finished_at=func.now())
            .returning(Task.id)
        )
        if marked.one_or_none() is not None:
            await session.commit()
            return task_id
    record_id = task_id or uuid.uuid4()
    # A task that is already finished keeps its record: ON CONFLICT leaves it alone.
    # created_at (its default) and finished_at are both now(): see is_message_record.
    await session.execute(
        insert(Task)
        .values(
            id=record_id,
            name=name,
            status=TaskStatus.DEAD,
            payload=payload,
            error=reason,
            finished_at=func.now(),
            published_at=func.now(),
        )
        .on_conflict_do_nothing(index_elements=[Task.id])
    )
    await session.commit()
    return record_id


async def list_dead_letters(
    *,
    session: AsyncSession,
    selection: DeadLetterFilter,
    limit: int,
    cursor: Cursor | None = None,
) -> Page[Task]:
    """Dead tasks matching the filter, newest first, one page at a time."""
    query = newest_first(select(Task).where(*selection.conditions()), after=cursor, size=limit + 1)
    return page_of(list(await session.scalars(query)), limit)


async def get_dead_letter(*, session: AsyncSession, task_id: uuid.UUID) -> Task:
    """The dead task with this id; TaskNotFoundError, or TaskNotDeadError naming its status."""
    task = await session.get(Task, task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    if task.status != TaskStatus.DEAD:
        raise TaskNotDeadError(task_id, task.status)
    return task


async def not_dead_error(*, session: AsyncSession, task_id: uuid.UUID) -> TaskgateError:
    """Why a conditional change of a dead task matched no row: it is gone, or not dead."""
    status = await session.scalar(select(Task.status).where(Task.id == task_id))
    if status is None:
        return TaskNotFoundError(task_id)
    if status == TaskStatus.DEAD:
        return TaskChangedError(task_id, status)
    return TaskNotDeadError(task_id, status)
