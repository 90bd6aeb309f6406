"""Cancelling a task on a client's request."""

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TERMINAL_STATUSES, Task
from db.tasks.manage import cancel_waiting, request_cancel
from publishers.messages import CancelMessage
from publishers.publishing import Publishers
from services.errors import TaskFinishedError
from services.task_views import get_task

logger = logging.getLogger(__name__)

# A task can change state between our statements (a worker claims it, say); each pass is
# one conditional UPDATE per state, so a few passes settle it.
ATTEMPTS = 3


@dataclass(frozen=True)
class Cancellation:
    """The task after the request, and whether it is cancelled already (else: it runs, and
    its worker was asked to stop it)."""

    task: Task
    done: bool


async def cancel_task(
    *, session: AsyncSession, publishers: Publishers, task_id: uuid.UUID, tenant: str | None
) -> Cancellation:
    """Cancel a task (of `tenant`, unless None) that has not started; ask the worker of a
    running one to stop it. A finished task is a TaskFinishedError."""
    for _ in range(ATTEMPTS):
        if await cancel_waiting(session=session, task_id=task_id, tenant=tenant):
            await session.commit()
            return Cancellation(task=await _reread(session, task_id, tenant), done=True)
        if await request_cancel(session=session, task_id=task_id, tenant=tenant):
            await session.commit()
            await _signal(publishers, task_id)
            return Cancellation(task=await _reread(session, task_id, tenant), done=False)
        task = await _reread(session, task_id, tenant)
        if task.status in TERMINAL_STATUSES:
            raise TaskFinishedError(task_id, task.status)
    return Cancellation(task=task, done=task.status in TERMINAL_STATUSES)


async def _reread(session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> Task:
    session.expire_all()
    return await get_task(session=session, task_id=task_id, tenant=tenant)


async def _signal(publishers: Publishers, task_id: uuid.UUID) -> None:
    try:
        await publishers.publish_cancel(CancelMessage(id=task_id))
    except Exception:
        # The request is recorded: the worker sees it at its next lease renewal.
        logger.warning("could not signal the cancel of task %s", task_id, exc_info=True)
