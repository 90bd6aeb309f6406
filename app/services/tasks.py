"""Reading tasks back: one, or a page of them."""

import enum
import logging
import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.errors import (
    TaskNotFoundError,
)
from app.services.pagination import Cursor, Page, page_of
from app.services.task_filter import TaskFilter, page_query
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
    limit: int,
    cursor: Cursor | None = None,
    statuses: Collection[str] = (),
    names: Collection[str] = (),
    queues: Collection[str] = (),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Page[Task]:
    """Tasks newest first, one page at a time, optionally only those in `statuses`, with
    `names`, in `queues`, created at or after `created_after` and before `created_before`."""
    task_filter = TaskFilter.of(
        statuses=statuses,
        names=names,
        queues=queues,
        created_after=created_after,
        created_before=created_before,
    )
    tasks = list(await session.scalars(page_query(task_filter, after=cursor, size=limit + 1)))
    return page_of(tasks, limit)
