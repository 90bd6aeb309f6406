"""Every statement on the schedules table, each one named function: the API's reads and
changes, and the scheduler's lock on the due schedules and their move to the next tick.
None of these commit: the caller does."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Select, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Schedule
from db.tasks.reads import Cursor, Page, newest_first, page_of


@dataclass(frozen=True)
class Ticked:
    """A schedule whose tick was handled: when it made a task (None: it skipped the tick),
    and its next tick."""

    schedule_id: uuid.UUID
    ran_at: datetime | None
    next_run_at: datetime


async def insert_schedule(*, session: AsyncSession, values: dict[str, Any]) -> Schedule:
    """Record a schedule (every column but the timestamps in `values`)."""
    schedule = Schedule(**values)
    session.add(schedule)
    await session.flush()
    await session.refresh(schedule)
    return schedule


async def get_schedule(
    *, session: AsyncSession, schedule_id: uuid.UUID, tenant: str | None, lock: bool = False
) -> Schedule | None:
    """The schedule with this id, of `tenant` (None: of any); `lock`: held FOR UPDATE until
    the transaction ends (the scheduler's tick waits for it)."""
    query = _of_tenant(select(Schedule).where(Schedule.id == schedule_id), tenant)
    if lock:
        query = query.with_for_update()
    found: Schedule | None = await session.scalar(query.execution_options(populate_existing=True))
    return found


async def page_of_schedules(
    *, session: AsyncSession, tenant: str | None, after: Cursor | None, limit: int
) -> Page[Schedule]:
    """Up to `limit` schedules of `tenant` (None: of every tenant), newest first, from just
    after `after`."""
    query = newest_first(
        _of_tenant(select(Schedule), tenant),
        moment=Schedule.created_at,
        key=Schedule.id,
        after=after,
        size=limit + 1,
    )
    return page_of(list(await session.scalars(query)), limit)


async def update_schedule(
    *, session: AsyncSession, schedule_id: uuid.UUID, values: dict[str, Any]
) -> Schedule:
    """Change the schedule's columns in `values` (it exists: the caller locked it)."""
    query = (
        update(Schedule)
        .where(Schedule.id == schedule_id)
        .values(**values, updated_at=func.now())
        .returning(Schedule)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).one()


async def delete_schedule(
    *, session: AsyncSession, schedule_id: uuid.UUID, tenant: str | None
) -> bool:
    """Delete the schedule (of `tenant`, unless None); False if there is no such schedule.
    The tasks it made keep its id."""
    query = delete(Schedule).where(Schedule.id == schedule_id).returning(Schedule.id)
    if tenant is not None:
        query = query.where(Schedule.tenant == tenant)
    return (await session.execute(query)).one_or_none() is not None


async def lock_due(*, session: AsyncSession, limit: int) -> tuple[list[Schedule], datetime | None]:
    """Up to `limit` schedules whose next tick has come, oldest tick first, locked until the
    transaction ends; those another transaction holds are skipped (every process runs the
    scheduler). And the database's clock, the transaction's `now()` (None: none was due)."""
    query = (
        select(Schedule, func.now())
        .where(Schedule.paused.is_(False), Schedule.next_run_at <= func.now())
        .order_by(Schedule.next_run_at)
        .limit(limit)
        .with_for_update(of=Schedule, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    rows = (await session.execute(query)).all()
    return [row[0] for row in rows], rows[0][1] if rows else None


async def mark_ticked(*, session: AsyncSession, ticked: Sequence[Ticked]) -> None:
    """Move each schedule to its next tick, and note when it made a task (if it did)."""
    if not ticked:
        return
    query = (
        update(Schedule)
        .where(Schedule.id == bindparam("ticked_id"))
        .values(
            next_run_at=bindparam("ticked_next", type_=DateTime(timezone=True)),
            last_run_at=func.coalesce(
                bindparam("ticked_ran", type_=DateTime(timezone=True)), Schedule.last_run_at
            ),
        )
    )
    rows = [
        {"ticked_id": t.schedule_id, "ticked_ran": t.ran_at, "ticked_next": t.next_run_at}
        for t in ticked
    ]
    connection = await session.connection()
    await connection.execute(query, rows)


async def mark_triggered(*, session: AsyncSession, schedule_id: uuid.UUID) -> None:
    """Note that the schedule made a task now (a trigger; its ticks stay as they are)."""
    await session.execute(
        update(Schedule).where(Schedule.id == schedule_id).values(last_run_at=func.now())
    )


def _of_tenant(query: Select[Any], tenant: str | None) -> Select[Any]:
    return query if tenant is None else query.where(Schedule.tenant == tenant)
