"""Schedules: a tenant's recurring tasks, made, read, changed, deleted and triggered. The
ticks themselves are the scheduler's (services/scheduler.py)."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from config import names
from config.settings import Settings
from db import schedules
from db.ids import uuid7
from db.models import CatchUp, Schedule
from db.tasks.reads import Cursor, Page, database_now
from services.errors import (
    InvalidPayloadError,
    InvalidScheduledTaskError,
    ScheduleNotFoundError,
    UnknownHandlerError,
    UnknownQueueError,
)
from services.payloads import PayloadLimits
from services.schedule_timing import Timing
from services.submission import Accepted, Submission, Submitter, resolve_queue, validate_submission


@dataclass(frozen=True)
class ScheduledTask:
    """The task a schedule makes at each tick."""

    name: str
    payload: dict[str, Any]
    # None: the handler's.
    queue: str | None = None
    priority: int = names.DEFAULT_PRIORITY

    def submission(self, *, schedule_id: uuid.UUID, idempotency_key: str | None) -> Submission:
        """The submit of this task, as the schedule's."""
        return Submission(
            name=self.name,
            payload=self.payload,
            queue=self.queue,
            priority=self.priority,
            idempotency_key=idempotency_key,
            schedule_id=schedule_id,
        )


@dataclass(frozen=True)
class ScheduleSpec:
    """A new schedule: exactly one of `cron` and `interval_seconds`."""

    name: str
    task: ScheduledTask
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    paused: bool = False
    catch_up: CatchUp = CatchUp.ONCE


@dataclass(frozen=True)
class ScheduleChanges:
    """What a change of a schedule sets; None leaves a field as it is. A cron expression
    replaces an interval, and the other way round."""

    name: str | None = None
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str | None = None
    task: ScheduledTask | None = None
    paused: bool | None = None
    catch_up: CatchUp | None = None


def timing_of(schedule: Schedule) -> Timing:
    """When the schedule's ticks fall."""
    return Timing.parse(
        cron=schedule.cron, interval_seconds=schedule.interval_seconds, timezone=schedule.timezone
    )


def task_of(schedule: Schedule) -> ScheduledTask:
    """The task the schedule makes."""
    return ScheduledTask(
        name=schedule.task_name,
        payload=schedule.task_payload,
        queue=schedule.task_queue,
        priority=schedule.task_priority,
    )


def check_task(*, task: ScheduledTask, settings: Settings) -> None:
    """InvalidScheduledTaskError unless a submit of the task would be accepted (its handler,
    its payload, its queue)."""
    try:
        valid = validate_submission(
            name=task.name, payload=task.payload, limits=PayloadLimits.from_settings(settings)
        )
        resolve_queue(queue=task.queue, handler=valid.handler, settings=settings)
    except (UnknownHandlerError, UnknownQueueError, InvalidPayloadError) as error:
        raise InvalidScheduledTaskError(error) from error


def _task_columns(task: ScheduledTask) -> dict[str, Any]:
    return {
        "task_name": task.name,
        "task_payload": task.payload,
        "task_queue": task.queue,
        "task_priority": task.priority,
    }


async def create_schedule(
    *, session: AsyncSession, tenant: str, spec: ScheduleSpec, settings: Settings
) -> Schedule:
    """Record a schedule of `tenant`, committed; its first tick is the first after now."""
    timing = Timing.parse(
        cron=spec.cron, interval_seconds=spec.interval_seconds, timezone=spec.timezone
    )
    check_task(task=spec.task, settings=settings)
    now = await database_now(session=session)
    schedule = await schedules.insert_schedule(
        session=session,
        values={
            "id": uuid7(),
            "tenant": tenant,
            "name": spec.name,
            "cron": timing.cron,
            "interval_seconds": timing.interval_seconds,
            "timezone": spec.timezone,
            **_task_columns(spec.task),
            "paused": spec.paused,
            "catch_up": spec.catch_up,
            "next_run_at": None if spec.paused else timing.first_after(now),
        },
    )
    await session.commit()
    return schedule


async def get_schedule(
    *, session: AsyncSession, schedule_id: uuid.UUID, tenant: str | None
) -> Schedule:
    """The schedule (of `tenant`, unless None), or ScheduleNotFoundError: another tenant's
    is as unknown as one that never was."""
    schedule = await schedules.get_schedule(session=session, schedule_id=schedule_id, tenant=tenant)
    if schedule is None:
        raise ScheduleNotFoundError(schedule_id)
    return schedule


async def list_schedules(
    *, session: AsyncSession, tenant: str | None, cursor: Cursor | None, limit: int
) -> Page[Schedule]:
    """Schedules of `tenant` (None: of every tenant), newest first, one page at a time."""
    return await schedules.page_of_schedules(
        session=session, tenant=tenant, after=cursor, limit=limit
    )


async def update_schedule(
    *,
    session: AsyncSession,
    schedule_id: uuid.UUID,
    tenant: str | None,
    changes: ScheduleChanges,
    settings: Settings,
) -> Schedule:
    """Apply the changes, committed. A new timing, or a resume, moves the next tick to the
    first after now; a pause clears it (the ticks it spans are not caught up)."""
    schedule = await schedules.get_schedule(
        session=session, schedule_id=schedule_id, tenant=tenant, lock=True
    )
    if schedule is None:
        raise ScheduleNotFoundError(schedule_id)
    values: dict[str, Any] = {}
    retimed = not {changes.cron, changes.interval_seconds, changes.timezone} <= {None}
    timing = _changed_timing(schedule, changes)
    if retimed:
        values.update(
            cron=timing.cron,
            interval_seconds=timing.interval_seconds,
            timezone=changes.timezone or schedule.timezone,
        )
    if changes.task is not None:
        check_task(task=changes.task, settings=settings)
        values.update(_task_columns(changes.task))
    if changes.name is not None:
        values["name"] = changes.name
    if changes.catch_up is not None:
        values["catch_up"] = changes.catch_up
    paused = schedule.paused if changes.paused is None else changes.paused
    values["paused"] = paused
    if paused:
        values["next_run_at"] = None
    elif retimed or schedule.paused:
        values["next_run_at"] = timing.first_after(await database_now(session=session))
    updated = await schedules.update_schedule(
        session=session, schedule_id=schedule.id, values=values
    )
    await session.commit()
    return updated


def _changed_timing(schedule: Schedule, changes: ScheduleChanges) -> Timing:
    """The timing with the changes applied (a cron expression replaces an interval, and the
    other way round); InvalidFieldError naming what is wrong."""
    cron, interval = schedule.cron, schedule.interval_seconds
    if changes.cron is not None or changes.interval_seconds is not None:
        cron, interval = changes.cron, changes.interval_seconds
    return Timing.parse(
        cron=cron, interval_seconds=interval, timezone=changes.timezone or schedule.timezone
    )


async def delete_schedule(
    *, session: AsyncSession, schedule_id: uuid.UUID, tenant: str | None
) -> None:
    """Delete the schedule (of `tenant`, unless None), committed; the tasks it made stay.
    ScheduleNotFoundError if there is no such schedule."""
    if not await schedules.delete_schedule(session=session, schedule_id=schedule_id, tenant=tenant):
        await session.rollback()
        raise ScheduleNotFoundError(schedule_id)
    await session.commit()


async def trigger_schedule(
    *, session: AsyncSession, submitter: Submitter, schedule_id: uuid.UUID, tenant: str | None
) -> Accepted:
    """Make the schedule's task now, as a submit of its tenant does (paused or not); its
    ticks stay as they are."""
    schedule = await get_schedule(session=session, schedule_id=schedule_id, tenant=tenant)
    submission = task_of(schedule).submission(schedule_id=schedule.id, idempotency_key=None)
    try:
        accepted = await submitter.submit_task(submission=submission, tenant=schedule.tenant)
    except (UnknownHandlerError, UnknownQueueError, InvalidPayloadError) as error:
        raise InvalidScheduledTaskError(error) from error
    await schedules.mark_triggered(session=session, schedule_id=schedule.id)
    await session.commit()
    return accepted
