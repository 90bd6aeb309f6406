"""Running one delivery of a task on a worker: claim it, run its handler, commit the
outcome. What the transport must do next (ack, retry later, dead-letter) is returned as an
Outcome; this module knows nothing of AMQP."""

import asyncio
import enum
import logging
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.context import TaskContext
from app.handlers.registry import TaskHandler, registry
from app.services import transitions
from app.services.leases import LeaseKeeper
from app.services.payloads import unstorable
from db.errors import database_unavailable

logger = logging.getLogger(__name__)

# Extra wait before a task held by another worker is looked at again, past its lease.
HELD_RECHECK_MARGIN_SECONDS = 1.0
# How long a release on shutdown may take before the lease is left to lapse instead.
RELEASE_TIMEOUT_SECONDS = 2.0


class Verdict(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY_LATER = "retry later"
    DEAD = "dead"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery, and what the transport must do about it."""

    verdict: Verdict
    reason: str | None = None
    delay_seconds: float = 0.0
    # DEAD: the task table already says so (else there was no task row to mark).
    recorded: bool = False


@dataclass(frozen=True)
class Attempt:
    task_id: uuid.UUID
    handler: TaskHandler
    claim: transitions.Claimed

    @property
    def number(self) -> int:
        return self.claim.attempt


async def execute_task(
    *, session: AsyncSession, task_id: uuid.UUID, name: str, leases: LeaseKeeper
) -> Outcome:
    """Run the task if it is waiting (or its worker died), and commit what happened."""
    handler = registry.get(name)
    if handler is None:
        reason = f"unknown handler {name!r}; this worker knows: {', '.join(registry.names())}"
        buried = await transitions.bury(
            session=session, task_id=task_id, attempt=None, error=reason, trace=None
        )
        await session.commit()
        return Outcome(Verdict.DEAD, reason, recorded=buried)

    claim = await transitions.claim(session=session, task_id=task_id, lease=leases.lease)
    if isinstance(claim, transitions.HeldElsewhere):
        await session.commit()
        delay = claim.lease_left_seconds + HELD_RECHECK_MARGIN_SECONDS
        return Outcome(Verdict.RETRY_LATER, "another worker holds the task", delay)
    if isinstance(claim, transitions.NotRunnable):
        await session.commit()
        if claim.status in transitions.WAITING:
            # Changed under the claim (it became claimable after this statement began):
            # the message must come back, not be dropped.
            return Outcome(Verdict.RETRY_LATER, "task changed during the claim", 1.0)
        return Outcome(Verdict.SKIPPED, f"task is {claim.status or 'unknown'}")
    if claim.taken_over:
        await transitions.record_lost_attempt(
            session=session, task_id=task_id, attempt=claim.attempt
        )
    await session.commit()

    attempt = Attempt(task_id=task_id, handler=handler, claim=claim)
    if claim.attempt > claim.max_attempts:
        reason = f"worker lost during attempt {claim.attempt - 1} of {claim.max_attempts}"
        return await _record_failure(session=session, attempt=attempt, error=reason, trace=None)
    async with leases.holding(task_id, claim.attempt):
        return await _run_attempt(session=session, attempt=attempt)


async def _run_attempt(*, session: AsyncSession, attempt: Attempt) -> Outcome:
    try:
        result = await _call_handler(session=session, attempt=attempt)
        problem = unstorable(result)
        if problem is not None:
            location, message = problem
            raise UnstorableResultError(f"result{list(location)}: {message}")
    except asyncio.CancelledError:
        await _release(session=session, attempt=attempt)
        raise
    except Exception as error:
        await session.rollback()
        # The handler's own writes (TaskContext.session) may meet a database outage too.
        if isinstance(error, DBAPIError) and database_unavailable(error):
            raise
        return await _record_failure(
            session=session,
            attempt=attempt,
            error=f"{type(error).__name__}: {error}",
            trace=traceback.format_exc(),
        )
    try:
        won = await transitions.succeed(
            session=session, task_id=attempt.task_id, attempt=attempt.number, result=result
        )
    except BaseException:
        await session.rollback()
        raise
    if not won:
        # Another worker took the task over: this attempt's writes must not land.
        await session.rollback()
        return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
    await session.commit()
    return Outcome(Verdict.SUCCEEDED)


async def _call_handler(*, session: AsyncSession, attempt: Attempt) -> Any:
    handler, claim = attempt.handler, attempt.claim
    arguments: list[Any] = [handler.parse_payload(claim.payload)]
    if handler.wants_context:
        arguments.append(
            TaskContext(
                task_id=attempt.task_id,
                attempt=claim.attempt,
                max_attempts=claim.max_attempts,
                session=session,
            )
        )
    # A sync handler cannot be interrupted: past the timeout its attempt fails, but its
    # thread runs on to its end and its result is discarded.
    call = (
        handler.func(*arguments)
        if handler.is_async
        else asyncio.to_thread(handler.func, *arguments)
    )
    try:
        async with asyncio.timeout(handler.timeout_seconds):
            result = await call
    except TimeoutError:
        raise TaskTimeoutError(handler.timeout_seconds) from None
    return to_jsonable_python(result)


class UnstorableResultError(Exception):
    """The handler returned something PostgreSQL cannot store."""


class TaskTimeoutError(Exception):
    """The handler ran past its timeout."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(f"the handler ran past its {seconds:g} s timeout and was stopped")


async def _record_failure(
    *, session: AsyncSession, attempt: Attempt, error: str, trace: str | None
) -> Outcome:
    """Schedule the next attempt, or bury the task when none is left."""
    claim = attempt.claim
    if claim.attempt < claim.max_attempts:
        delay = attempt.handler.backoff.delay(claim.attempt)
        recorded = await transitions.schedule_retry(
            session=session,
            task_id=attempt.task_id,
            attempt=claim.attempt,
            error=error,
            trace=trace,
            retry_in=delay,
            due_in=2 * delay + 5,
        )
        await session.commit()
        if not recorded:
            return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
        return Outcome(Verdict.RETRY_LATER, error, delay)
    buried = await transitions.bury(
        session=session, task_id=attempt.task_id, attempt=claim.attempt, error=error, trace=trace
    )
    await session.commit()
    if not buried:
        return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
    return Outcome(Verdict.DEAD, error, recorded=True)


async def _release(*, session: AsyncSession, attempt: Attempt) -> None:
    """Hand the task back unrun; if the database does not answer, its lease will lapse."""
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS):
            await asyncio.shield(_commit_release(session=session, attempt=attempt))
    except Exception:
        logger.warning("could not release task %s; its lease will lapse", attempt.task_id)


async def _commit_release(*, session: AsyncSession, attempt: Attempt) -> None:
    await session.rollback()
    await transitions.release(session=session, task_id=attempt.task_id, attempt=attempt.number)
    await session.commit()
