"""Reading tasks back: one, or a page of them."""

import enum
import logging
import uuid
from collections.abc import Collection

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.errors import (
    TaskNotFoundError,
)
from app.services.pagination import Cursor, Page
from db.models import Task, TaskStatus

logger = logging.getLogger(__name__)


class QueueName(enum.StrEnum):
    MAIN = "main"
    DEAD_LETTER = "dead-letter"


# The statuses of the tasks each queue holds: the main queue has the work still to do.
QUEUE_STATUSES: dict[QueueName, tuple[TaskStatus, ...]] = {
    QueueName.MAIN: (
        TaskStatus.SCHEDULED,
        TaskStatus.QUEUED,
        TaskStatus.RUNNING,
        TaskStatus.RETRYING,
    ),
    QueueName.DEAD_LETTER: (TaskStatus.DEAD,),
}


async def get_task(*, session: AsyncSession, task_id: uuid.UUID) -> Task:
    """The task with this id, or TaskNotFoundError."""
    task = await session.get(Task, task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


async def list_tasks(
    *,
    session: AsyncSession,
    statuses: Collection[str] = (),
    limit: int,
    cursor: Cursor | None = None,
) -> Page[Task]:
    """Tasks newest first, optionally only those in `statuses`, one page at a time."""
    query = select(Task).order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
    if statuses:
        query = query.where(Task.status.in_(statuses))
    if cursor is not None:
        query = query.where(tuple_(Task.created_at, Task.id) < (cursor.created_at, cursor.id))
    tasks = list(await session.scalars(query))
    if len(tasks) <= limit:
        return Page(items=tasks, next_cursor=None)
    last = tasks[limit - 1]
    return Page(items=tasks[:limit], next_cursor=Cursor(created_at=last.created_at, id=last.id))
