"""Running one delivery of a task on a worker: claim it, run its handler, commit the
outcome. What the transport must do next (ack, retry later, dead-letter) is returned as an
Outcome; this module knows nothing of AMQP."""

import asyncio
import contextlib
import enum
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import Settings
from db.failures import database_unavailable
from db.models import WAITING_STATUSES
from db.session import Database
from db.tasks import attempts, controls
from services.coalescing import Coalescer
from services.handlers.context import TaskContext
from services.handlers.progress import ProgressRecorder
from services.handlers.registry import TaskHandler, registry
from services.observability.correlation import note_tenant
from services.payloads import StoredTextLimits, unstorable
from subscribers import task_metrics
from subscribers.cancel_requests import CancelRequests
from subscribers.leases import LeaseKeeper

logger = logging.getLogger(__name__)

# Extra wait before a task held by another worker is looked at again, past its lease.
HELD_RECHECK_MARGIN_SECONDS = 1.0
# How long a release on shutdown may take before the lease is left to lapse instead.
RELEASE_TIMEOUT_SECONDS = 2.0


class Verdict(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY_LATER = "retry later"
    DEAD = "dead"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    # A control of its queue (paused, a limit) holds the task back, with no message.
    HELD = "held back"


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery, and what the transport must do about it."""

    verdict: Verdict
    reason: str | None = None
    delay_seconds: float = 0.0
    # DEAD: the task table already says so (else there was no task row to mark).
    recorded: bool = False
    # A failure's kind, fit for a log line (an exception's class, never its message).
    error_kind: str | None = None


@dataclass(frozen=True)
class Attempt:
    task_id: uuid.UUID
    handler: TaskHandler
    claim: attempts.Claimed

    @property
    def number(self) -> int:
        return self.claim.attempt


class Executor:
    """Runs deliveries of tasks in this worker process. Claims, and the successes of
    handlers that take no TaskContext, are group-committed across concurrent deliveries."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        leases: LeaseKeeper,
        cancel_requests: CancelRequests,
        controlled_ended: Callable[[], None] = lambda: None,
    ) -> None:
        self.limits = StoredTextLimits.from_settings(settings)
        # Called when a task of a queue with controls ends: held ones may go now.
        self.controlled_ended = controlled_ended
        self.progress = ProgressRecorder(
            database=database, min_interval=settings.progress_min_interval_seconds
        )
        self.database = database
        self.leases = leases
        self.cancel_requests = cancel_requests
        self._claims = Coalescer(self._claim_batch)
        self._successes = Coalescer(self._succeed_batch)

    async def execute(self, *, task_id: uuid.UUID) -> Outcome:
        """Run the task if it is waiting (or its worker died), and commit what happened."""
        claim = await self._claims.submit(task_id)
        if isinstance(claim, attempts.Controlled):
            return await self._execute_controlled(task_id)
        return await self._execute_claimed(task_id, claim)

    async def _execute_controlled(self, task_id: uuid.UUID) -> Outcome:
        """Claim apart, under the queue's lock; run it unless a control holds it back."""
        async with self.database.connection() as connection:
            claim = await controls.claim_controlled(
                connection=connection,
                task_id=task_id,
                lease=self.leases.lease,
                history=self.limits.history,
            )
        if isinstance(claim, controls.Held):
            logger.debug("task held back by its queue's %s", claim.reason)
            return Outcome(Verdict.HELD, claim.reason)
        try:
            return await self._execute_claimed(task_id, claim)
        finally:
            if isinstance(claim, attempts.Claimed):
                self.controlled_ended()

    async def _execute_claimed(self, task_id: uuid.UUID, claim: attempts.ClaimResult) -> Outcome:
        if isinstance(claim, attempts.HeldElsewhere):
            delay = claim.lease_left_seconds + HELD_RECHECK_MARGIN_SECONDS
            return Outcome(Verdict.RETRY_LATER, "another worker holds the task", delay)
        if isinstance(claim, attempts.NotRunnable):
            if claim.status in WAITING_STATUSES:
                # Changed under the claim (it became claimable after the statement began):
                # the message must come back, not be dropped.
                return Outcome(Verdict.RETRY_LATER, "task changed during the claim", 1.0)
            return Outcome(Verdict.SKIPPED, f"task is {claim.status or 'unknown'}")
        if isinstance(claim, attempts.Controlled):
            # Its queue's controls came on during the claim: the next delivery takes them in.
            return Outcome(Verdict.RETRY_LATER, "its queue's controls changed", 1.0)
        note_tenant(claim.tenant)
        outcome = await self._run_claimed(task_id, claim)
        task_metrics.ended(claim, outcome.verdict.value)
        log_outcome(claim, outcome)
        return outcome

    async def _run_claimed(self, task_id: uuid.UUID, claim: attempts.Claimed) -> Outcome:
        """Run the claimed attempt, or end the task if it cannot run."""
        # The handler named by the task's row, never by the message: a message cannot run
        # one task's payload through another handler.
        handler = registry.get(claim.name)
        if handler is None:
            known = ", ".join(registry.names())
            reason = self.limits.error(
                f"unknown handler {claim.name!r}; this worker knows: {known}"
            )
            async with self.database.session() as session:
                buried = await attempts.bury(
                    session=session,
                    task_id=task_id,
                    attempt=claim.attempt,
                    error=reason,
                    trace=None,
                    history=self.limits.history,
                )
                await session.commit()
            if not buried:
                return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
            return Outcome(Verdict.DEAD, reason, recorded=True, error_kind="unknown handler")

        attempt = Attempt(task_id=task_id, handler=handler, claim=claim)
        if claim.cancel_requested:
            async with self.database.session() as session:
                return await _record_cancelled(session=session, attempt=attempt)
        if claim.attempt > claim.max_attempts:
            reason = f"worker lost during attempt {claim.attempt - 1} of {claim.max_attempts}"
            async with self.database.session() as session:
                return await _record_failure(
                    session=session,
                    attempt=attempt,
                    error=reason,
                    kind="worker lost",
                    trace=None,
                    limits=self.limits,
                )
        async with self.leases.holding(task_id, claim.attempt):
            if handler.wants_context:
                async with self.database.session() as session:
                    return await self._run_attempt(session=session, attempt=attempt)
            # The common path: no session at all, the database work is group-committed.
            return await self._run_attempt(session=None, attempt=attempt)

    async def _run_attempt(self, *, session: AsyncSession | None, attempt: Attempt) -> Outcome:
        """Call the handler; `session` is the handler's TaskContext session, if it takes one."""
        try:
            with task_metrics.running(attempt.claim):
                result = await _call_handler(
                    session=session,
                    sessions=self.database.sessions,
                    attempt=attempt,
                    cancel_requests=self.cancel_requests,
                    progress=self.progress,
                )
            problem = unstorable(result)
            if problem is not None:
                location, message = problem
                raise UnstorableResultError(f"result{list(location)}: {message}")
        except asyncio.CancelledError:
            async with self._session_or_new(session) as own:
                await _release(session=own, attempt=attempt)
            raise
        except TaskCancelledError:
            async with self._session_or_new(session) as own:
                await own.rollback()
                return await _record_cancelled(session=own, attempt=attempt)
        except Exception as error:
            # The handler's own writes (TaskContext.session) may meet a database outage.
            if isinstance(error, DBAPIError) and database_unavailable(error):
                raise
            trace = traceback.format_exc()
            async with self._session_or_new(session) as own:
                await own.rollback()
                return await _record_failure(
                    session=own,
                    attempt=attempt,
                    error=f"{type(error).__name__}: {error}",
                    kind=type(error).__name__,
                    trace=trace,
                    limits=self.limits,
                )
        if session is not None:
            won = await _succeed_with_context(session=session, attempt=attempt, result=result)
        else:
            success = attempts.Success(attempt.task_id, attempt.number, result)
            won = await self._successes.submit(success)
        if not won:
            # Another worker took the task over: this attempt's outcome must not land.
            return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
        return Outcome(Verdict.SUCCEEDED)

    @contextlib.asynccontextmanager
    async def _session_or_new(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """The handler's session if it had one, else a new one for this block."""
        if session is not None:
            yield session
            return
        async with self.database.session() as own:
            yield own

    async def _claim_batch(self, task_ids: list[uuid.UUID]) -> list[attempts.ClaimResult]:
        # One statement, committed on its own (the reads after it only explain the misses).
        async with self.database.connection() as connection:
            return await attempts.claim_many(
                connection=connection,
                task_ids=task_ids,
                lease=self.leases.lease,
                history=self.limits.history,
            )

    async def _succeed_batch(self, successes: list[attempts.Success]) -> list[bool]:
        async with self.database.connection() as connection:
            recorded = await attempts.succeed_many(connection=connection, successes=successes)
        return [success.task_id in recorded for success in successes]


async def _succeed_with_context(*, session: AsyncSession, attempt: Attempt, result: Any) -> bool:
    """Record the success in the transaction that holds the handler's own writes."""
    try:
        won = await attempts.succeed(
            session=session, task_id=attempt.task_id, attempt=attempt.number, result=result
        )
    except BaseException:
        await session.rollback()
        raise
    if not won:
        await session.rollback()
        return False
    await session.commit()
    return True


async def _call_handler(
    *,
    session: AsyncSession | None,
    sessions: async_sessionmaker[AsyncSession],
    attempt: Attempt,
    cancel_requests: CancelRequests,
    progress: ProgressRecorder,
) -> Any:
    handler, claim = attempt.handler, attempt.claim
    arguments: list[Any] = [handler.parse_payload(claim.payload)]
    reporter = None
    if handler.wants_context:
        assert session is not None, "a handler taking a TaskContext runs with a session"
        reporter = progress.reporter(task_id=attempt.task_id, attempt=claim.attempt)
        arguments.append(
            TaskContext(
                task_id=attempt.task_id,
                attempt=claim.attempt,
                max_attempts=claim.max_attempts,
                session=session,
                sessions=sessions,
                reporter=reporter,
            )
        )
    # A sync handler cannot be interrupted: past the timeout (or on a cancel request) its
    # attempt ends, but its thread runs on to its end and its result is discarded.
    running = (
        handler.func(*arguments)
        if handler.is_async
        else asyncio.to_thread(handler.func, *arguments)
    )
    # The last progress report is written when the handler ends, before its outcome.
    call = asyncio.ensure_future(running if reporter is None else reporter.around(running))
    with cancel_requests.running(attempt.task_id, call):
        try:
            async with asyncio.timeout(handler.timeout_seconds):
                result = await call
        except TimeoutError:
            raise TaskTimeoutError(handler.timeout_seconds) from None
        except asyncio.CancelledError:
            this_task = asyncio.current_task()
            stopping = this_task is not None and this_task.cancelling() > 0
            if cancel_requests.requested(attempt.task_id) and not stopping:
                raise TaskCancelledError() from None
            raise
    return to_jsonable_python(result)


class UnstorableResultError(Exception):
    """The handler returned something PostgreSQL cannot store."""


class TaskCancelledError(Exception):
    """A client cancelled the task while its handler ran."""


class TaskTimeoutError(Exception):
    """The handler ran past its timeout."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(f"the handler ran past its {seconds:g} s timeout and was stopped")


async def _record_failure(
    *,
    session: AsyncSession,
    attempt: Attempt,
    error: str,
    kind: str,
    trace: str | None,
    limits: StoredTextLimits,
) -> Outcome:
    """Schedule the next attempt, or bury the task when none is left; the error and the
    traceback are kept to the limits."""
    claim = attempt.claim
    error, trace = limits.error(error), limits.traceback(trace)
    if claim.attempt < claim.max_attempts:
        delay = attempt.handler.backoff.delay(claim.attempt)
        recorded = await attempts.schedule_retry(
            session=session,
            task_id=attempt.task_id,
            attempt=claim.attempt,
            error=error,
            trace=trace,
            retry_in=delay,
            due_in=2 * delay + 5,
            history=limits.history,
        )
        await session.commit()
        if not recorded:
            return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
        return Outcome(Verdict.RETRY_LATER, error, delay, error_kind=kind)
    buried = await attempts.bury(
        session=session,
        task_id=attempt.task_id,
        attempt=claim.attempt,
        error=error,
        trace=trace,
        history=limits.history,
    )
    await session.commit()
    if not buried:
        return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
    return Outcome(Verdict.DEAD, error, recorded=True, error_kind=kind)


async def _record_cancelled(*, session: AsyncSession, attempt: Attempt) -> Outcome:
    cancelled = await attempts.cancel_running(
        session=session, task_id=attempt.task_id, attempt=attempt.number
    )
    await session.commit()
    if not cancelled:
        return Outcome(Verdict.SKIPPED, "the attempt lost its lease to another worker")
    return Outcome(Verdict.CANCELLED, "cancelled on request")


async def _release(*, session: AsyncSession, attempt: Attempt) -> None:
    """Hand the task back unrun; if the database does not answer, its lease will lapse."""
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS):
            await asyncio.shield(_commit_release(session=session, attempt=attempt))
    except Exception:
        logger.warning("could not release task %s; its lease will lapse", attempt.task_id)


async def _commit_release(*, session: AsyncSession, attempt: Attempt) -> None:
    await session.rollback()
    await attempts.release(session=session, task_id=attempt.task_id, attempt=attempt.number)
    await session.commit()


def log_outcome(claim: attempts.Claimed, outcome: Outcome) -> None:
    """One line about how a claimed task ended (the task's ids come from the context): its
    handler, its attempt, the kind of its failure; never its payload or its error text."""
    verdict, name, number, limit = outcome.verdict, claim.name, claim.attempt, claim.max_attempts
    if verdict is Verdict.SUCCEEDED:
        logger.debug("task succeeded: %s, attempt %d of %d", name, number, limit)
    elif verdict is Verdict.RETRY_LATER:
        logger.info(
            "task failed: %s, attempt %d of %d (%s); retried in %.1f s",
            *(name, number, limit, outcome.error_kind, outcome.delay_seconds),
        )
    elif verdict is Verdict.DEAD:
        kind = outcome.error_kind
        logger.warning("task dead: %s, attempt %d of %d (%s)", name, number, limit, kind)
    elif verdict is Verdict.CANCELLED:
        logger.info("task cancelled on request: %s, attempt %d of %d", name, number, limit)
    else:
        reason = outcome.reason
        logger.info("task left alone: %s, attempt %d of %d (%s)", name, number, limit, reason)
