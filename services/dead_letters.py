"""The dead-letter queue in PostgreSQL: recording what reached it, finding and reading it.

Replaying (`services/replay.py`) and purging (`services/purge.py`) select dead letters
through the same `DeadLetterFilter` (db/tasks/filters.py).
"""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.ids import uuid7
from db.models import Task, TaskStatus
from db.tasks import manage, reads
from db.tasks.filters import DeadLetterFilter
from db.tasks.reads import Cursor, Page
from services.errors import TaskChangedError, TaskgateError, TaskNotDeadError, TaskNotFoundError


def is_message_record(task: Task) -> bool:
    """Whether the dead letter records a message no task stands behind (unreadable, or
    naming an id that was never submitted) rather than a task that died.

    Such a record is inserted already dead, so it is created and finished by one statement;
    a submitted task always finishes in a later transaction.
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
    """Mark the task dead with the reason, or record the unreadable message as a dead task;
    committed."""
    if task_id is not None and await manage.mark_dead(
        session=session, task_id=task_id, reason=reason
    ):
        await session.commit()
        return task_id
    record_id = task_id or uuid7()
    await manage.insert_message_record(
        session=session, record_id=record_id, name=name, payload=payload, reason=reason
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
    if selection.tenants is not None and not selection.tenants:
        return Page(items=[], next_cursor=None)
    return await reads.page_of_dead(session=session, selection=selection, after=cursor, limit=limit)


async def get_dead_letter(*, session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> Task:
    """The dead task with this id (of `tenant`, unless None); TaskNotFoundError, or
    TaskNotDeadError naming its status."""
    task = await reads.get_task(session=session, task_id=task_id, tenant=tenant)
    if task is None:
        raise TaskNotFoundError(task_id)
    if task.status != TaskStatus.DEAD:
        raise TaskNotDeadError(task_id, task.status)
    return task


async def not_dead_error(
    *, session: AsyncSession, task_id: uuid.UUID, tenant: str | None
) -> TaskgateError:
    """Why a conditional change of a dead task matched no row: it is gone, or not dead."""
    status = await reads.task_status(session=session, task_id=task_id, tenant=tenant)
    if status is None:
        return TaskNotFoundError(task_id)
    if status == TaskStatus.DEAD:
        return TaskChangedError(task_id, status)
    return TaskNotDeadError(task_id, status)
