"""Purging dead tasks: deleting them for good, one, or every one a filter selects."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from db.tasks import manage, reads
from db.tasks.filters import DeadLetterFilter
from services.dead_letters import not_dead_error

# Dead tasks deleted per transaction by a purge by filter.
PURGE_BATCH_SIZE = 1000


async def purge_dead_letter(
    *, session: AsyncSession, task_id: uuid.UUID, tenant: str | None
) -> None:
    """Delete the dead task (of `tenant`, unless None); TaskNotFoundError, or
    TaskNotDeadError if it is not dead."""
    if not await manage.purge_dead(session=session, task_id=task_id, tenant=tenant):
        error = await not_dead_error(session=session, task_id=task_id, tenant=tenant)
        await session.rollback()
        raise error
    await session.commit()


async def purge_matching(
    *, session: AsyncSession, selection: DeadLetterFilter, batch_size: int = PURGE_BATCH_SIZE
) -> int:
    """Delete the dead tasks matching the filter (its tenants), longest dead first, one
    transaction of at most `batch_size` each; the number deleted."""
    # Only tasks dead when the request came, so a steady stream of deaths cannot keep it going.
    started = await reads.database_now(session=session)
    total = 0
    while True:
        deleted = await manage.purge_dead_batch(
            session=session, selection=selection, died_by=started, size=batch_size
        )
        await session.commit()
        total += deleted
        if deleted < batch_size:
            return total
