"""The background jobs' statements: scheduled tasks released when due, tasks owed a message
found and marked sent (the outbox relay), finished tasks deleted past their retention. Every
one skips rows another process holds (`SKIP LOCKED`), so any number of processes may run
them at once."""

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, Row, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Task, TaskStatus


async def release_due(*, session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Turn up to `limit` scheduled tasks whose time has come into queued ones; their ids."""
    due = (
        select(Task.id)
        .where(Task.status == TaskStatus.SCHEDULED, Task.run_at <= func.now())
        .order_by(Task.run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(
        await session.scalars(
            update(Task)
            .where(Task.id.in_(due.scalar_subquery()))
            .values(status=TaskStatus.QUEUED)
            .returning(Task.id)
        )
    )


async def lock_owed(
    *,
    session: AsyncSession,
    grace: timedelta,
    released: Sequence[uuid.UUID],
    limit: int,
) -> Sequence[Row[tuple[uuid.UUID, str, dict[str, object], str, int]]]:
    """Up to `limit` tasks owed a message, oldest first, locked: queued and never confirmed
    for longer than `grace` (or just `released` from their schedule); retrying past their
    due time; running under a lease that lapsed `grace` ago. (id, name, payload, queue,
    priority) of each."""
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
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(owed)).all()


async def mark_relayed(
    *, session: AsyncSession, task_ids: Sequence[uuid.UUID], resend_after: timedelta
) -> None:
    """Record that the relay sent the tasks' messages; it sends none again for
    `resend_after`."""
    await session.execute(
        update(Task)
        .where(Task.id.in_(task_ids))
        .values(published_at=func.now(), due_at=func.now() + resend_after)
    )


async def delete_expired(
    *, session: AsyncSession, status: TaskStatus, kept_for: timedelta, limit: int
) -> int:
    """Delete up to `limit` tasks in `status` that finished more than `kept_for` ago, oldest
    first (one range of the (status, finished_at) index); the number deleted."""
    return await delete_oldest_finished(
        session, Task.status == status, Task.finished_at < func.now() - kept_for, limit=limit
    )


async def delete_oldest_finished(
    session: AsyncSession, *conditions: ColumnElement[bool], limit: int
) -> int:
    """Delete up to `limit` tasks matching `conditions`, longest finished first; rows another
    process holds are skipped, so deleters running at once never wait for each other nor
    delete a row twice. The number deleted."""
    doomed = (
        select(Task.id)
        .where(*conditions)
        .order_by(Task.finished_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    gone = await session.scalars(
        delete(Task).where(Task.id.in_(doomed.scalar_subquery())).returning(Task.id)
    )
    return len(gone.all())
