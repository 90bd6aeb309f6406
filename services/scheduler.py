"""The scheduler: makes the task of every schedule whose tick has come, then moves the
schedule to its next tick.

Every API process and worker runs it; `FOR UPDATE SKIP LOCKED` shares the due schedules
out, and a schedule stays locked until its move is committed. Its task is made through the
ordinary submission path (recorded, then published through the outbox), which commits on a
connection of its own *before* the move is committed; the task's idempotency key names the
schedule and the tick. So a crash between the two leaves the schedule due, and the next run
makes the same task again, which the key answers with the task made before: never a second
one, never none. A tick whose task cannot be made now (its tenant is at its limit, this
process lacks the handler) stays due and is tried again on the next run.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config import names
from config.settings import Settings
from db.models import CatchUp, Schedule
from db.schedules import Ticked, lock_due, mark_ticked
from db.session import Database
from services.background import PeriodicJob
from services.errors import IdempotencyConflictError, TaskgateError
from services.schedules import task_of, timing_of
from services.submission import Submitter

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
# A tick later than this counts as missed (nothing ran when it came), and `catch_up: none`
# skips it; below it, the lateness is the scheduler's own (its interval, a busy database).
# At least three of the scheduler's intervals.
MIN_MISSED_AFTER = timedelta(seconds=10)


def tick_key(schedule_id: uuid.UUID, tick: datetime) -> str:
    """The idempotency key of the task of a schedule's tick."""
    return f"{names.SCHEDULE_KEY_PREFIX}:{schedule_id}:{tick.astimezone(UTC).isoformat()}"


@dataclass(frozen=True)
class Plan:
    """What one due schedule does now: make the task of `tick` (None: skip the missed
    ticks), then wait for `next_run_at`."""

    schedule: Schedule
    tick: datetime | None
    next_run_at: datetime


def plan(schedule: Schedule, *, now: datetime, missed_after: timedelta) -> Plan:
    """The plan of a due schedule: the most recent tick at or before `now` gets its task,
    unless it is missed and the schedule does not catch up; ticks before it never do."""
    assert schedule.next_run_at is not None
    timing = timing_of(schedule)
    tick = timing.latest_due(due=schedule.next_run_at, now=now)
    runs = schedule.catch_up == CatchUp.ONCE or now - tick <= missed_after
    return Plan(
        schedule=schedule,
        tick=tick if runs else None,
        next_run_at=timing.next_after(tick=tick, now=now),
    )


async def make_task(submitter: Submitter, schedule: Schedule, tick: datetime) -> bool:
    """Make the task of the schedule's tick (or find the one made before); whether the tick
    has its task now."""
    submission = task_of(schedule).submission(
        schedule_id=schedule.id, idempotency_key=tick_key(schedule.id, tick)
    )
    try:
        await submitter.submit_task(submission=submission, tenant=schedule.tenant)
    except IdempotencyConflictError:
        # Made before the schedule's task was changed: the tick has its task.
        return True
    except TaskgateError as error:
        logger.warning(
            "schedule %s could not make the task of its tick %s (tried again on the next run): %s",
            schedule.id,
            tick.isoformat(),
            error,
        )
        return False
    return True


async def tick_once(
    *, session: AsyncSession, submitter: Submitter, batch_size: int, missed_after: timedelta
) -> int:
    """Make the tasks of up to `batch_size` due schedules and move each one whose tick has
    its task (or was skipped) to its next tick, in one transaction; how many moved."""
    due, now = await lock_due(session=session, limit=batch_size)
    if now is None:
        await session.commit()
        return 0
    plans = []
    for schedule in due:
        try:
            plans.append(plan(schedule, now=now, missed_after=missed_after))
        except TaskgateError as error:
            logger.warning("schedule %s cannot be timed: %s", schedule.id, error)
    running = [p for p in plans if p.tick is not None]
    # Concurrent submits share the submitter's INSERTs (group commit).
    outcomes = await asyncio.gather(
        *(make_task(submitter, p.schedule, p.tick) for p in running if p.tick is not None),
        return_exceptions=True,
    )
    made = {p.schedule.id for p, outcome in zip(running, outcomes, strict=True) if outcome is True}
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            logger.warning("a schedule's task could not be made: %s", outcome)
    ticked = [
        Ticked(
            schedule_id=p.schedule.id,
            ran_at=now if p.tick is not None else None,
            next_run_at=p.next_run_at,
        )
        for p in plans
        if p.tick is None or p.schedule.id in made
    ]
    await mark_ticked(session=session, ticked=ticked)
    await session.commit()
    return len(ticked)


class Scheduler(PeriodicJob):
    """Runs `tick_once` in the background every SCHEDULER_INTERVAL_SECONDS, and at once
    again while it moves a full batch."""

    name = "scheduler"

    def __init__(self, *, database: Database, submitter: Submitter, settings: Settings) -> None:
        super().__init__()
        self.database = database
        self.submitter = submitter
        self.interval = settings.scheduler_interval_seconds
        self.missed_after = max(MIN_MISSED_AFTER, timedelta(seconds=3 * self.interval))
        self.batch_size = BATCH_SIZE

    async def run_once(self) -> bool:
        async with self.database.session() as session:
            moved = await tick_once(
                session=session,
                submitter=self.submitter,
                batch_size=self.batch_size,
                missed_after=self.missed_after,
            )
        if moved:
            logger.debug("scheduler handled %d due schedule(s)", moved)
        return moved >= self.batch_size
