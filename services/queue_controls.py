"""A tenant's controls over a named queue: pause, concurrency limits (all of the queue's
tasks, and per concurrency key) and a rate of starts. They are read and changed here; every
worker enforces them at the claim, under the queue's lock (db/tasks/controls.py), and lets
held tasks go when they allow (services/held_release.py)."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import queue_settings
from services.errors import QueueNotFoundError


@dataclass(frozen=True)
class QueueControls:
    """A queue's controls for one tenant, and its tasks that run, wait or are held back."""

    name: str
    tenant: str
    paused: bool
    concurrency_limit: int | None
    key_concurrency_limit: int | None
    rate_limit_per_second: float | None
    updated_at: datetime | None
    running: int
    waiting: int
    # Held tasks by the control that holds them.
    held: dict[str, int]


async def get_queue_controls(
    *, session: AsyncSession, tenant: str, queue: str, known: Collection[str]
) -> QueueControls:
    """The tenant's controls over the queue (all off if never set)."""
    _check_known(queue, known)
    return await _controls(session=session, tenant=tenant, queue=queue)


async def change_queue_controls(
    *,
    session: AsyncSession,
    tenant: str,
    queue: str,
    known: Collection[str],
    changes: dict[str, Any],
) -> QueueControls:
    """Change the given controls (None turns a limit off) and commit: every worker's next
    claim of the queue obeys them."""
    _check_known(queue, known)
    if changes:
        await queue_settings.set_controls(
            session=session, tenant=tenant, queue=queue, changes=changes
        )
        await session.commit()
    return await _controls(session=session, tenant=tenant, queue=queue)


async def paused_queues(*, session: AsyncSession, tenant: str) -> set[str]:
    """The names of the tenant's paused queues."""
    return await queue_settings.paused_queues(session=session, tenant=tenant)


def _check_known(queue: str, known: Collection[str]) -> None:
    if queue not in known:
        raise QueueNotFoundError(queue, sorted(known))


async def _controls(*, session: AsyncSession, tenant: str, queue: str) -> QueueControls:
    row = await queue_settings.get_settings(session=session, tenant=tenant, queue=queue)
    load = await queue_settings.queue_load(session=session, tenant=tenant, queue=queue)
    return QueueControls(
        name=queue,
        tenant=tenant,
        paused=row.paused if row else False,
        concurrency_limit=row.concurrency_limit if row else None,
        key_concurrency_limit=row.key_concurrency_limit if row else None,
        rate_limit_per_second=row.rate_limit_per_second if row else None,
        updated_at=row.updated_at if row else None,
        running=load["running"],
        waiting=load["waiting"],
        held=load["held"],
    )
