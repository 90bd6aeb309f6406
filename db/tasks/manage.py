"""What clients do to tasks (cancel, replay, purge), and dead letters recorded from the
dead-letter queue."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CANCELLABLE_AT_ONCE, TERMINAL_STATUSES, Task, TaskStatus
from db.tasks.attempts import finishing
from db.tasks.filters import DeadLetterFilter
from db.tasks.upkeep import delete_oldest_finished


def _of(tenant: str | None) -> ColumnElement[bool]:
    """Tasks of `tenant` (None: of any)."""
    return true() if tenant is None else Task.tenant == tenant


async def cancel_waiting(*, session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> bool:
    """Cancel a task that is not running: it will never run. False if it is not waiting."""
    outcome = await session.execute(
        update(Task)
        .where(Task.id == task_id, _of(tenant), Task.status.in_(CANCELLABLE_AT_ONCE))
        .values(**finishing(TaskStatus.CANCELLED))
        .returning(Task.id)
    )
    return outcome.one_or_none() is not None


async def request_cancel(*, session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> bool:
    """Ask the worker running the task to stop it. False if the task is not running."""
    outcome = await session.execute(
        update(Task)
        .where(Task.id == task_id, _of(tenant), Task.status == TaskStatus.RUNNING)
        .values(cancel_requested_at=func.coalesce(Task.cancel_requested_at, func.now()))
        .returning(Task.id)
    )
    return outcome.one_or_none() is not None


async def mark_dead(*, session: AsyncSession, task_id: uuid.UUID, reason: str) -> bool:
    """Mark a task that has not finished dead with the reason its message was dead-lettered;
    False if there is no such unfinished task."""
    outcome = await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status.not_in(TERMINAL_STATUSES))
        .values(**finishing(TaskStatus.DEAD, error=reason))
        .returning(Task.id)
    )
    return outcome.one_or_none() is not None


async def insert_message_record(
    *, session: AsyncSession, record_id: uuid.UUID, name: str, payload: dict[str, Any], reason: str
) -> None:
    """Record a dead-lettered message no task stands behind as a dead task. Its created_at
    (the default) and finished_at are both now(): that is how such a record is told from a
    task that died. A task that exists already keeps its record (ON CONFLICT DO NOTHING)."""
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


async def lock_dead_batch(
    *,
    session: AsyncSession,
    selection: DeadLetterFilter,
    died_by: datetime,
    after: tuple[datetime | None, uuid.UUID] | None,
    size: int,
) -> list[Task]:
    """Up to `size` dead tasks matching the filter that died by `died_by`, longest dead
    first from just after `after`, locked; rows another replay or purge holds are skipped."""
    query = (
        select(Task)
        .where(*selection.conditions(), Task.finished_at <= died_by)
        .order_by(Task.finished_at, Task.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        query = query.where(tuple_(Task.finished_at, Task.id) > after)
    return list(await session.scalars(query))


async def replay_dead(
    *,
    session: AsyncSession,
    task_ids: Sequence[uuid.UUID],
    tenant: str | None,
    payload: dict[str, Any] | None = None,
) -> list[Task]:
    """Queue dead tasks again with a fresh attempt count (and `payload` instead of their
    own, if given); their error history stays. The tasks it changed."""
    if not task_ids:
        return []
    values: dict[str, Any] = {
        "status": TaskStatus.QUEUED,
        "attempts": 0,
        "replays": Task.replays + 1,
        "result": None,
        "error": None,
        "traceback": None,
        "started_at": None,
        "finished_at": None,
        "published_at": None,
        "lease_expires_at": None,
        "due_at": None,
        "cancel_requested_at": None,
    }
    if payload is not None:
        values["payload"] = payload
    replayed = await session.scalars(
        update(Task)
        .where(Task.id.in_(task_ids), _of(tenant), Task.status == TaskStatus.DEAD)
        .values(values)
        .returning(Task),
        execution_options={"populate_existing": True},
    )
    return list(replayed)


async def purge_dead(*, session: AsyncSession, task_id: uuid.UUID, tenant: str | None) -> bool:
    """Delete the dead task; False if there is no dead task with this id."""
    deleted = await session.scalar(
        delete(Task)
        .where(Task.id == task_id, _of(tenant), Task.status == TaskStatus.DEAD)
        .returning(Task.id)
    )
    return deleted is not None


async def purge_dead_batch(
    *, session: AsyncSession, selection: DeadLetterFilter, died_by: datetime, size: int
) -> int:
    """Delete up to `size` dead tasks matching the filter that died by `died_by`, longest
    dead first; rows another purge or replay holds are skipped. The number deleted."""
    return await delete_oldest_finished(
        session, *selection.conditions(), Task.finished_at <= died_by, limit=size
    )
