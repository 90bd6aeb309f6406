"""Statements on the queue_settings table (a tenant's controls over a named queue), and the
counts a queue's controls are judged by."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import QueueSettings, Task, TaskStatus

# The columns a client may change.
CONTROLS = ("paused", "concurrency_limit", "key_concurrency_limit", "rate_limit_per_second")


async def get_settings(*, session: AsyncSession, tenant: str, queue: str) -> QueueSettings | None:
    """The tenant's controls over the queue, if any were ever set."""
    return await session.get(QueueSettings, (tenant, queue))


async def set_controls(
    *, session: AsyncSession, tenant: str, queue: str, changes: dict[str, Any]
) -> QueueSettings:
    """Change the named controls (others keep their value); a new rate starts with a full
    bucket of one second's starts."""
    unknown = set(changes) - set(CONTROLS)
    assert not unknown, f"not a queue control: {unknown}"
    values: dict[str, Any] = {**changes, "updated_at": func.now()}
    if changes.get("rate_limit_per_second") is not None:
        values |= {"tokens": max(1.0, changes["rate_limit_per_second"]), "tokens_at": func.now()}
    statement = (
        insert(QueueSettings)
        .values(tenant=tenant, name=queue, **values)
        .on_conflict_do_update(index_elements=["tenant", "name"], set_=values)
        .returning(QueueSettings)
    )
    row = (await session.execute(statement)).scalar_one()
    await session.refresh(row)
    return row


async def queue_load(*, session: AsyncSession, tenant: str, queue: str) -> dict[str, Any]:
    """The tenant's tasks of the queue that run, wait, and are held back (by control)."""
    unfinished = (TaskStatus.QUEUED, TaskStatus.RETRYING, TaskStatus.RUNNING)
    rows = await session.execute(
        select(Task.status, Task.held_reason, func.count())
        .where(Task.tenant == tenant, Task.queue == queue, Task.status.in_(unfinished))
        .group_by(Task.status, Task.held_reason)
    )
    load: dict[str, Any] = {"running": 0, "waiting": 0, "held": {}}
    for status, held_reason, count in rows:
        if held_reason is not None:
            load["held"][held_reason] = load["held"].get(held_reason, 0) + count
        elif status == TaskStatus.RUNNING:
            load["running"] += count
        else:
            load["waiting"] += count
    return load


async def paused_queues(*, session: AsyncSession, tenant: str) -> set[str]:
    """The tenant's paused queues."""
    rows = await session.scalars(
        select(QueueSettings.name).where(QueueSettings.tenant == tenant, QueueSettings.paused)
    )
    return set(rows)
