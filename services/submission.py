"""Accepting tasks: validate, record (idempotently), commit, then publish."""

import asyncio
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from config import names
from config.settings import Settings
from db.models import TaskStatus
from db.session import Database
from db.tasks.submit import TaskRow, insert_tasks, tasks_holding_keys
from services.coalescing import Coalescer
from services.errors import (
    IdempotencyConflictError,
    InvalidBatchError,
    InvalidPayloadError,
    UnknownHandlerError,
    UnknownQueueError,
)
from services.handlers.registry import TaskHandler, registry
from services.named_queues import known_queues
from services.outbox import Outbox
from services.payloads import unstorable

# Until there is authentication every task belongs to this tenant; idempotency keys are
# unique per tenant.
DEFAULT_TENANT = ""


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


@dataclass(frozen=True)
class _Conflict:
    """The row's idempotency key belongs to a task made by a different request."""

    key: str
    task_id: uuid.UUID


def validate_submission(
    *, name: str, payload: dict[str, Any]
) -> tuple[TaskHandler, dict[str, Any]]:
    """Check the handler exists and the payload fits it; the handler, and the payload with
    its defaults filled in."""
    handler = registry.get(name)
    if handler is None:
        raise UnknownHandlerError(name, registry.names())
    try:
        parsed = handler.parse_payload(payload)
    except ValidationError as error:
        raise InvalidPayloadError(name, error.errors(include_url=False)) from error
    normalized: dict[str, Any] = handler.payload_adapter.dump_python(parsed, mode="json")
    # The raw payload too: JSON mode would quietly turn NaN into null.
    problem = unstorable(payload) or unstorable(normalized)
    if problem is not None:
        location, message = problem
        raise InvalidPayloadError(name, [{"loc": location, "msg": message, "type": "unstorable"}])
    return handler, normalized


class Submitter:
    """Accepts tasks: each is committed before it counts as accepted, then published.
    Concurrent single submits share one INSERT (group commit) and their messages."""

    def __init__(self, *, database: Database, outbox: Outbox, settings: Settings) -> None:
        self._database = database
        self._outbox = outbox
        self._settings = settings
        self._single_submits = Coalescer(self._record_single_submits, in_flight=2)
        # Batches beyond this wait their turn here rather than open connections past the
        # pool: a new PostgreSQL connection costs more CPU than the batch's INSERT.
        self._batch_transactions = asyncio.Semaphore(max(1, settings.db_pool_size // 2))

    async def submit_task(self, *, submission: Submission) -> Accepted:
        """Record a task, commit, then publish it; the commit is what makes it accepted."""
        outcome = await self._single_submits.submit(self._task_row(submission))
        if isinstance(outcome, IdempotencyConflictError):
            raise outcome
        if outcome.created and outcome.task["status"] == TaskStatus.QUEUED:
            await self._outbox.send([outcome.task], shared=True, mark_at_once=False)
        return outcome

    async def submit_batch(self, *, submissions: Sequence[Submission]) -> list[Accepted]:
        """Record every task in one transaction, or none: an invalid one fails the batch."""
        rows, problems = [], []
        for index, submission in enumerate(submissions):
            try:
                rows.append(self._task_row(submission))
            except (UnknownHandlerError, UnknownQueueError, InvalidPayloadError) as error:
                problems.append((index, error))
        if problems:
            raise InvalidBatchError(problems)
        async with self._batch_transactions, self._database.transaction() as connection:
            recorded = await _record(connection, rows)
            conflicts = [
                (index, conflict.key, conflict.task_id)
                for index, conflict in enumerate(recorded)
                if isinstance(conflict, _Conflict)
            ]
            if conflicts:
                # Leaving the block by an error rolls the whole batch back.
                raise IdempotencyConflictError(conflicts)
        accepted = [item for item in recorded if isinstance(item, Accepted)]
        new = [i.task for i in accepted if i.created and i.task["status"] == TaskStatus.QUEUED]
        await self._outbox.send(new, shared=False, mark_at_once=False)
        return accepted

    def _task_row(self, submission: Submission) -> dict[str, Any]:
        handler, payload = validate_submission(name=submission.name, payload=submission.payload)
        max_attempts = submission.max_attempts or handler.max_attempts
        queue = submission.queue or handler.queue
        if queue != handler.queue and queue not in (known := known_queues(self._settings)):
            raise UnknownQueueError(queue, known)
        now = datetime.now(UTC)
        run_at = submission.start_at(now)
        # A scheduled task waits in PostgreSQL, not in the broker; the relay sends it when due.
        waits = run_at is not None and run_at > now
        return {
            "id": uuid.uuid4(),
            "name": submission.name,
            "queue": queue,
            "priority": submission.priority,
            "status": TaskStatus.SCHEDULED if waits else TaskStatus.QUEUED,
            "run_at": run_at,
            "payload": json.dumps(payload, separators=(",", ":")),
            "max_attempts": max_attempts,
            "tenant": DEFAULT_TENANT,
            "idempotency_key": submission.idempotency_key,
            "request_hash": _request_hash(submission, payload, queue, max_attempts),
        }

    async def _record_single_submits(
        self, rows: list[dict[str, Any]]
    ) -> list[Accepted | IdempotencyConflictError]:
        """One statement for the rows of concurrent single submits: each stands alone, so a
        conflict answers its own request and the others are committed."""
        # The INSERT commits on its own: each row stands alone, and a key's holder is read
        # after.
        async with self._database.connection() as connection:
            recorded = await _record(connection, rows)
        return [
            IdempotencyConflictError([(0, item.key, item.task_id)])
            if isinstance(item, _Conflict)
            else item
            for item in recorded
        ]


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
    }
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _record(connection: Any, rows: list[dict[str, Any]]) -> list[Accepted | _Conflict]:
    """Insert the rows; a row whose key is taken stands for the task that holds it, or is a
    conflict if that task was made by a different request."""
    created = await insert_tasks(connection=connection, rows=rows)
    by_id = {row["id"]: row for row in created}
    keys = [row["idempotency_key"] for row in rows if row["id"] not in by_id]
    by_key: dict[str, TaskRow] = {}
    if keys:
        by_key = await tasks_holding_keys(connection=connection, tenant=DEFAULT_TENANT, keys=keys)
    recorded: list[Accepted | _Conflict] = []
    for row in rows:
        if row["id"] in by_id:
            recorded.append(Accepted(task=by_id[row["id"]], created=True))
            continue
        existing = by_key[row["idempotency_key"]]
        if existing["request_hash"] != row["request_hash"]:
            recorded.append(_Conflict(key=row["idempotency_key"], task_id=existing["id"]))
        else:
            recorded.append(Accepted(task=existing, created=False))
    return recorded
