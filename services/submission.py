"""Accepting tasks: validate, record (idempotently), commit, then publish."""

import asyncio
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from config import names
from config.settings import Settings
from db.failures import database_unavailable, deadlock_detected
from db.ids import uuid7
from db.models import TaskStatus
from db.session import Database
from db.tasks.submit import TaskRow, insert_tasks, tasks_holding_keys
from services.coalescing import Coalescer
from services.errors import (
    IdempotencyConflictError,
    InvalidBatchError,
    InvalidFieldError,
    InvalidPayloadError,
    TaskgateError,
    TenantBusyError,
    UnknownHandlerError,
    UnknownQueueError,
)
from services.handlers.registry import TaskHandler, registry
from services.named_queues import known_queues
from services.observability.metrics import count_submitted
from services.outbox import Outbox
from services.payloads import Location, PayloadLimits, unstorable


@dataclass(frozen=True)
class Submission:
    """One task a client asks for."""

    name: str
    payload: dict[str, Any]
    max_attempts: int | None = None
    idempotency_key: str | None = None
    # None: the handler's queue.
    queue: str | None = None
    priority: int = names.DEFAULT_PRIORITY
    # At most one of these: wait this long, or until then, before the task may start.
    delay_seconds: float | None = None
    run_at: datetime | None = None
    concurrency_key: str | None = None
    # The schedule whose tick makes this task.
    schedule_id: uuid.UUID | None = None

    def start_at(self, now: datetime) -> datetime | None:
        """When the task may start, if not at once."""
        if self.delay_seconds:
            return now + timedelta(seconds=self.delay_seconds)
        return self.run_at


@dataclass(frozen=True)
class Accepted:
    """A recorded task, and whether this request created it (else: an idempotent repeat)."""

    task: TaskRow
    created: bool


# What became of one row of a shared INSERT: accepted, or the error its request answers.
Recorded = Accepted | IdempotencyConflictError | TenantBusyError | InvalidFieldError


@dataclass(frozen=True)
class ValidPayload:
    """A payload that fits its handler, with the handler's defaults filled in."""

    handler: TaskHandler
    payload: dict[str, Any]
    # The payload as stored: compact JSON.
    encoded: str


def validate_submission(
    *, name: str, payload: dict[str, Any], limits: PayloadLimits
) -> ValidPayload:
    """Check the handler exists and the payload fits it and the limits."""
    handler = registry.get(name)
    if handler is None:
        raise UnknownHandlerError(name, registry.names())
    # The raw payload first: JSON mode would quietly turn NaN into null, and a payload
    # nested past the limit never reaches the handler's model.
    _refuse_unstorable(name, unstorable(payload, max_depth=limits.max_depth))
    try:
        parsed = handler.parse_submitted(payload)
    except ValidationError as error:
        raise InvalidPayloadError(name, error.errors(include_url=False)) from error
    normalized: dict[str, Any] = handler.payload_adapter.dump_python(parsed, mode="json")
    _refuse_unstorable(name, unstorable(normalized, max_depth=limits.max_depth))
    encoded = json.dumps(normalized, separators=(",", ":"))
    size = len(encoded.encode())
    if size > limits.max_bytes:
        message = f"payload is {size} bytes as JSON; at most {limits.max_bytes} (MAX_PAYLOAD_BYTES)"
        raise InvalidPayloadError(name, [{"loc": (), "msg": message, "type": "too_large"}])
    return ValidPayload(handler=handler, payload=normalized, encoded=encoded)


def resolve_queue(*, queue: str | None, handler: TaskHandler, settings: Settings) -> str:
    """The queue a task runs from: the one asked for, which must be known, else its
    handler's."""
    resolved = queue or handler.queue
    if resolved != handler.queue and resolved not in (known := known_queues(settings)):
        raise UnknownQueueError(resolved, known)
    return resolved


def _refuse_unstorable(name: str, problem: tuple[Location, str] | None) -> None:
    if problem is not None:
        location, message = problem
        raise InvalidPayloadError(name, [{"loc": location, "msg": message, "type": "unstorable"}])


class Submitter:
    """Accepts tasks: each is committed before it counts as accepted, then published.
    Concurrent single submits share one INSERT (group commit) and their messages."""

    def __init__(self, *, database: Database, outbox: Outbox, settings: Settings) -> None:
        self._database = database
        self._outbox = outbox
        self._settings = settings
        self._limits = PayloadLimits.from_settings(settings)
        self._unfinished_limit = settings.tenant_max_unfinished
        self._single_submits = Coalescer(self._record_single_submits, in_flight=2)
        # Batches beyond this wait their turn here rather than open connections past the
        # pool: a new PostgreSQL connection costs more CPU than the batch's INSERT.
        self._batch_transactions = asyncio.Semaphore(max(1, settings.db_pool_size // 2))

    async def submit_task(self, *, submission: Submission, tenant: str) -> Accepted:
        """Record a task of `tenant`, commit, then publish it; the commit is what makes it
        accepted."""
        outcome = await self._single_submits.submit(self._task_row(submission, tenant))
        if isinstance(outcome, TaskgateError):
            raise outcome
        if outcome.created:
            count_submitted([(outcome.task["name"], outcome.task["queue"])])
        if outcome.created and outcome.task["status"] == TaskStatus.QUEUED:
            await self._outbox.send([outcome.task], shared=True, mark_at_once=False)
        return outcome

    async def submit_batch(
        self, *, submissions: Sequence[Submission], tenant: str
    ) -> list[Accepted]:
        """Record every task (of `tenant`) in one transaction, or none: an invalid one fails
        the batch, and so does one past the tenant's limit of unfinished tasks."""
        if len(submissions) > self._settings.max_batch_size:
            raise InvalidFieldError(
                ["tasks"],
                f"a batch holds at most {self._settings.max_batch_size} tasks (MAX_BATCH_SIZE); "
                f"this one holds {len(submissions)}",
            )
        rows, problems = [], []
        for index, submission in enumerate(submissions):
            try:
                rows.append(self._task_row(submission, tenant))
            except (
                UnknownHandlerError,
                UnknownQueueError,
                InvalidPayloadError,
                InvalidFieldError,
            ) as error:
                problems.append((index, error))
        if problems:
            raise InvalidBatchError(problems)
        async with self._batch_transactions, self._database.transaction() as connection:
            recorded = await self._record(connection, rows)
            if any(isinstance(item, TenantBusyError) for item in recorded):
                raise TenantBusyError(self._unfinished_limit)
            conflicts = [
                (index, *conflict.conflicts[0][1:])
                for index, conflict in enumerate(recorded)
                if isinstance(conflict, IdempotencyConflictError)
            ]
            if conflicts:
                # Leaving the block by an error rolls the whole batch back.
                raise IdempotencyConflictError(conflicts)
        accepted = [item for item in recorded if isinstance(item, Accepted)]
        count_submitted((i.task["name"], i.task["queue"]) for i in accepted if i.created)
        new = [i.task for i in accepted if i.created and i.task["status"] == TaskStatus.QUEUED]
        await self._outbox.send(new, shared=False, mark_at_once=False)
        return accepted

    def _task_row(self, submission: Submission, tenant: str) -> dict[str, Any]:
        valid = validate_submission(
            name=submission.name, payload=submission.payload, limits=self._limits
        )
        handler = valid.handler
        if (
            submission.max_attempts is not None
            and submission.max_attempts > self._limits.max_attempts
        ):
            raise InvalidFieldError(
                ["max_attempts"],
                f"max_attempts may be at most {self._limits.max_attempts} (MAX_ATTEMPTS_LIMIT)",
            )
        max_attempts = submission.max_attempts or handler.max_attempts
        queue = resolve_queue(queue=submission.queue, handler=handler, settings=self._settings)
        now = datetime.now(UTC)
        run_at = submission.start_at(now)
        # A scheduled task waits in PostgreSQL, not in the broker; the relay sends it when due.
        waits = run_at is not None and run_at > now
        return {
            "id": uuid7(),
            "name": submission.name,
            "queue": queue,
            "priority": submission.priority,
            "status": TaskStatus.SCHEDULED if waits else TaskStatus.QUEUED,
            "run_at": run_at,
            "payload": valid.encoded,
            "max_attempts": max_attempts,
            "tenant": tenant,
            "idempotency_key": submission.idempotency_key,
            "request_hash": _request_hash(submission, valid.payload, queue, max_attempts),
            "concurrency_key": submission.concurrency_key,
            "schedule_id": submission.schedule_id,
        }

    async def _record_single_submits(self, rows: list[dict[str, Any]]) -> list[Recorded]:
        """One statement for the rows of concurrent single submits: each stands alone, so a
        conflict answers its own request and the others are committed. Should PostgreSQL
        refuse the statement for what one row holds, each row is tried on its own, so that
        only the request that sent it fails."""
        # The INSERT commits on its own: each row stands alone, and a key's holder is read
        # after.
        try:
            async with self._database.connection() as connection:
                return await self._record(connection, rows)
        except asyncpg.PostgresError as error:
            if len(rows) == 1 or database_unavailable(error) or deadlock_detected(error):
                raise
        return [await self._record_alone(row) for row in rows]

    async def _record_alone(self, row: dict[str, Any]) -> Recorded:
        try:
            async with self._database.connection() as connection:
                (recorded,) = await self._record(connection, [row])
        except asyncpg.PostgresError as error:
            if database_unavailable(error) or deadlock_detected(error):
                raise
            return InvalidFieldError([], f"PostgreSQL refused the task: {error}")
        return recorded

    async def _record(self, connection: Any, rows: list[dict[str, Any]]) -> list[Recorded]:
        """Insert the rows; a row whose key is taken stands for the task that holds it, or is
        a conflict if that task was made by a different request; one that was not inserted
        for any other cause would take its tenant past its limit of unfinished tasks."""
        created = await insert_tasks(
            connection=connection, rows=rows, unfinished_limit=self._unfinished_limit
        )
        by_id = {row["id"]: row for row in created}
        keys = [
            (row["tenant"], row["idempotency_key"])
            for row in rows
            if row["id"] not in by_id and row["idempotency_key"] is not None
        ]
        held = await tasks_holding_keys(connection=connection, keys=keys) if keys else {}
        recorded: list[Recorded] = []
        for row in rows:
            existing = held.get((row["tenant"], row["idempotency_key"]))
            if row["id"] in by_id:
                recorded.append(Accepted(task=by_id[row["id"]], created=True))
            elif existing is None:
                recorded.append(TenantBusyError(self._unfinished_limit))
            elif existing["request_hash"] != row["request_hash"]:
                recorded.append(
                    IdempotencyConflictError([(0, row["idempotency_key"], existing["id"])])
                )
            else:
                recorded.append(Accepted(task=existing, created=False))
        return recorded


def _request_hash(
    submission: Submission, payload: dict[str, Any], queue: str, max_attempts: int
) -> str | None:
    """What a repeat with the same idempotency key must match; without a key nothing
    compares it, so it is not computed."""
    if submission.idempotency_key is None:
        return None
    request = {
        "name": submission.name,
        "payload": payload,
        "queue": queue,
        "priority": submission.priority,
        "max_attempts": max_attempts,
        "delay_seconds": submission.delay_seconds,
        "run_at": submission.run_at.isoformat() if submission.run_at else None,
        "concurrency_key": submission.concurrency_key,
    }
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
