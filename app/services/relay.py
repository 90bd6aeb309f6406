"""The outbox relay: sends a message for every task that is owed one.

The task table is the outbox. A task is owed a message when its scheduled time has come,
when its publish was never confirmed (the broker was down, or the API died after the
commit), when its retry did not come back from the delay queue in time, or when it is
running under a lease that lapsed long ago.
Every API process and worker runs the relay; `FOR UPDATE SKIP LOCKED` shares the rows out,
and a duplicate message is harmless because claims are conditional.
"""

import asyncio
import logging
import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.background import BackgroundLoop
from app.settings import get_settings
from db.models import Task, TaskStatus
from db.session import SessionFactory
from publishers.messages import TaskMessage
from publishers.tasks import publish_task

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# A task re-sent by the relay is not re-sent again for this long.
RESEND_AFTER = timedelta(seconds=60)


async def release_due(*, session: AsyncSession) -> list[uuid.UUID]:
    """Turn scheduled tasks whose time has come into queued ones, and commit: a worker must
    never receive a task's message before the task may be claimed."""
    due = (
        select(Task.id)
        .where(Task.status == TaskStatus.SCHEDULED, Task.run_at <= func.now())
        .order_by(Task.run_at)
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    )
    released = list(
        await session.scalars(
            update(Task)
            .where(Task.id.in_(due.scalar_subquery()))
            .values(status=TaskStatus.QUEUED)
            .returning(Task.id)
        )
    )
    await session.commit()
    return released


async def relay_once(*, session: AsyncSession, grace: timedelta) -> int:
    """Publish one batch of owed messages; the number sent."""
    released = await release_due(session=session)
    cutoff = func.now() - grace
    owed = (
        select(Task.id, Task.name, Task.payload, Task.queue, Task.priority)
        .where(
            or_(
                (Task.status == TaskStatus.QUEUED)
                & Task.published_at.is_(None)
                & ((Task.created_at < cutoff) | Task.id.in_(released)),
                (Task.status == TaskStatus.RETRYING) & (Task.due_at < cutoff),
                (Task.status == TaskStatus.RUNNING)
                & (Task.lease_expires_at < cutoff)
                & (Task.due_at.is_(None) | (Task.due_at < func.now())),
            )
        )
        .order_by(Task.created_at)
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(owed)).all()
    if not rows:
        await session.commit()
        return 0
    await asyncio.gather(*(publish_task(TaskMessage.model_validate(row)) for row in rows))
    await session.execute(
        update(Task)
        .where(Task.id.in_([row.id for row in rows]))
        .values(published_at=func.now(), due_at=func.now() + RESEND_AFTER)
    )
    await session.commit()
    return len(rows)


class OutboxRelay(BackgroundLoop):
    """Runs `relay_once` in the background every OUTBOX_INTERVAL_SECONDS."""

    name = "outbox-relay"

    def __init__(self) -> None:
        super().__init__()
        settings = get_settings()
        self.interval = settings.outbox_interval_seconds
        self.grace = timedelta(seconds=settings.outbox_grace_seconds)

    async def run_forever(self) -> None:
        while True:
            try:
                async with SessionFactory() as session:
                    sent = await relay_once(session=session, grace=self.grace)
                if sent:
                    logger.info("relay sent %d owed task message(s)", sent)
                    continue
            except Exception as error:
                logger.warning("outbox relay could not run: %s", error)
            await asyncio.sleep(self.interval)
