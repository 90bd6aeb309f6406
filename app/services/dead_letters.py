"""Recording what reached the dead-letter queue, so it can be listed and inspected."""

import uuid
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TERMINAL_STATUSES, Task, TaskStatus


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
