"""Purging dead tasks: deleting them for good, one, or every one a filter selects."""

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.dead_letters import DeadLetterFilter, not_dead_error
from db.models import Task, TaskStatus

# Dead tasks deleted per transaction by a purge by filter.
PURGE_BATCH_SIZE = 1000


async def purge_dead_letter(*, session: AsyncSession, task_id: uuid.UUID) -> None:
    """Delete the dead task; TaskNotFoundError, or TaskNotDeadError if it is not dead."""
    deleted = await session.scalar(
        delete(Task).where(Task.id == task_id, Task.status == TaskStatus.DEAD).returning(Task.id)
    )
    if deleted is None:
        error = await not_dead_error(session=session, task_id=task_id)
        await session.rollback()
        raise error
    await session.commit()


async def purge_matching(
    *, session: AsyncSession, selection: DeadLetterFilter, batch_size: int = PURGE_BATCH_SIZE
) -> int:
    """Delete the dead tasks matching the filter, longest dead first, one transaction of at
    most `batch_size` each; the number deleted."""
    # Only tasks dead when the request came, so a steady stream of deaths cannot keep it going.
    started = (await session.execute(select(func.now()))).scalar_one()
    total = 0
    while True:
        doomed = (
            select(Task.id)
            .where(*selection.conditions(), Task.finished_at <= started)
            .order_by(Task.finished_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        deleted = len(
            (
                await session.scalars(
                    delete(Task).where(Task.id.in_(doomed.scalar_subquery())).returning(Task.id)
                )
            ).all()
        )
        await session.commit()
        total += deleted
        if deleted < batch_size:
            return total
