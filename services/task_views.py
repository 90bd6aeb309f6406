"""Reading tasks back: one, or a page of them."""

import enum
import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Task, TaskStatus
from db.tasks import reads
from db.tasks.filters import TaskFilter
from db.tasks.reads import Cursor, Page
from services.errors import InvalidFilterError, TaskNotFoundError


class QueueView(enum.StrEnum):
    """The two lists the original API calls queues: work still to do, and the dead."""

    MAIN = "main"
    DEAD_LETTER = "dead-letter"


# The statuses of the tasks each view shows: the main queue has the work still to do.
QUEUE_VIEW_STATUSES: dict[QueueView, tuple[TaskStatus, ...]] = {
    QueueView.MAIN: (
        TaskStatus.SCHEDULED,
        TaskStatus.QUEUED,
        TaskStatus.RUNNING,
        TaskStatus.RETRYING,
    ),
    QueueView.DEAD_LETTER: (TaskStatus.DEAD,),
}


async def get_task(*, session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> Task:
    """The task with this id (of `tenant`, unless None), or TaskNotFoundError: another
    tenant's task is as unknown as one that never was."""
    task = await reads.get_task(session=session, task_id=task_id, tenant=tenant)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


async def list_tasks(
    *,
    session: AsyncSession,
    tenants: Collection[str],
    limit: int,
    cursor: Cursor | None = None,
    statuses: Collection[str] = (),
    names: Collection[str] = (),
    queues: Collection[str] = (),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    schedule_id: uuid.UUID | None = None,
) -> Page[Task]:
    """Tasks of `tenants` newest first, one page at a time, optionally only those in
    `statuses`, with `names`, in `queues`, created at or after `created_after` and before
    `created_before`, made by the schedule `schedule_id`."""
    for field, moment in (("created_after", created_after), ("created_before", created_before)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidFilterError(field, f"{field} must have a time zone")
    empty_range = (
        created_after is not None
        and created_before is not None
        and (created_after >= created_before)
    )
    if not tenants or empty_range:
        return Page(items=[], next_cursor=None)
    task_filter = TaskFilter.of(
        tenants=tenants,
        statuses=statuses,
        names=names,
        queues=queues,
        created_after=created_after,
        created_before=created_before,
        schedule_id=schedule_id,
    )
    return await reads.page_of_tasks(
        session=session, task_filter=task_filter, after=cursor, limit=limit
    )
