"""Accepting tasks: validate, record (idempotently), commit, then publish."""

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from app.handlers.registry import TaskHandler, registry
from app.services.coalescing import Coalescer
from app.services.errors import (
    IdempotencyConflictError,
    InvalidBatchError,
    InvalidPayloadError,
    UnknownHandlerError,
    UnknownQueueError,
)
from app.services.payloads import unstorable
from app.services.queues import known_queues
from app.settings import get_settings
from db import raw
from db.models import TaskStatus
from publishers import constants
from publishers.messages import TaskMessage
from publishers.tasks import publish_tasks

logger = logging.getLogger(__name__)

# Until there is authentication every task belongs to this tenant; idempotency keys are
# unique per tenant.
DEFAULT_TENANT = ""

# A task row as the database returned it (column name -> value).
TaskRow = dict[str, Any]

# One array per column: any number of rows in one prepared statement.
INSERT_TASKS = """
INSERT INTO tasks (id, name, queue, priority, status, run_at, payload, max_attempts, tenant,
                   idempotency_key, request_hash)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[],
                     $6::timestamptz[], $7::jsonb[], $8::int[], $9::text[], $10::text[],
                     $11::text[])
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *
"""
INSERTED_COLUMNS = (
    "id",
    "name",
    "queue",
    "priority",
    "status",
    "run_at",
    "payload",
    "max_attempts",
    "tenant",
    "idempotency_key",
    "request_hash",
)
KEY_HOLDERS = "SELECT * FROM tasks WHERE tenant = $1 AND idempotency_key = ANY($2::text[])"
# Rows locked in id order, as every batched statement does: two never deadlock. A mark
# names the publish it records by the task's replay count: a task replayed since
# (unpublished again) is left to the publish of its replay. Rows a claim has marked
# already, or holds now (it marks them), are left alone too: under normal load that is
# most of them, and the mark costs no row version and waits on no lock.
MARK_PUBLISHED = """
WITH unmarked AS (
    SELECT tasks.id FROM tasks
    JOIN unnest($1::uuid[], $2::int[]) AS published(id, replays)
      ON tasks.id = published.id AND tasks.replays = published.replays
    WHERE tasks.published_at IS NULL
    ORDER BY tasks.id FOR UPDATE OF tasks SKIP LOCKED
)
UPDATE tasks SET published_at = now() FROM unmarked WHERE tasks.id = unmarked.id
"""
# How long a published task is left to its worker's claim before the API marks it itself:
# long enough that the claim usually comes first (so the mark writes nothing), and at most
# half the relay's grace, so the relay never takes a published task for an unpublished one.
PUBLISHED_MARK_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class Submission:
    """One task a client asks for."""

    name: str
    payload: dict[str, Any]
    max_attempts: int | None = None
    idempotency_key: str | None = None
    # None: the handler's queue.
    queue: str | None = None
    priority: int = constants.DEFAULT_PRIORITY
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
class Publish:
    """A confirmed publish of a task: of its submit (replays 0) or of its nth replay."""

    task_id: uuid.UUID
    replays: int


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


async def submit_task(*, submission: Submission) -> Accepted:
    """Record a task, commit, then publish it; the commit is what makes it accepted.
    Concurrent submits share one INSERT and one commit (group commit)."""
    outcome = await _single_submits.submit(_task_row(submission))
    if isinstance(outcome, IdempotencyConflictError):
        raise outcome
    if outcome.created and outcome.task["status"] == TaskStatus.QUEUED:
        await _publish([outcome.task], alone=True)
    return outcome


async def submit_batch(*, submissions: Sequence[Submission]) -> list[Accepted]:
    """Record every task in one transaction, or none: an invalid one fails the batch."""
    rows, problems = [], []
    for index, submission in enumerate(submissions):
        try:
            rows.append(_task_row(submission))
        except (UnknownHandlerError, UnknownQueueError, InvalidPayloadError) as error:
            problems.append((index, error))
    if problems:
        raise InvalidBatchError(problems)
    async with _batch_transactions, raw.transaction() as connection:
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
    await _publish(
        [
            item.task
            for item in accepted
            if item.created and item.task["status"] == TaskStatus.QUEUED
        ],
        alone=False,
    )
    return accepted


# Batches beyond this wait their turn here rather than open connections past the pool: a
# new PostgreSQL connection costs more CPU than the batch's INSERT, and is closed again.
_batch_transactions = asyncio.Semaphore(max(1, get_settings().db_pool_size // 2))


def _task_row(submission: Submission) -> dict[str, Any]:
    handler, payload = validate_submission(name=submission.name, payload=submission.payload)
    max_attempts = submission.max_attempts or handler.max_attempts
    queue = submission.queue or handler.queue
    if queue != handler.queue and queue not in (known := known_queues()):
        raise UnknownQueueError(queue, known)
    request_hash = None
    if submission.idempotency_key is not None:
        # What a repeat with the same key must match; without a key nothing compares it.
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
        request_hash = hashlib.sha256(canonical.encode()).hexdigest()
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
        "request_hash": request_hash,
    }


@dataclass(frozen=True)
class _Conflict:
    """The row's idempotency key belongs to a task made by a different request."""

    key: str
    task_id: uuid.UUID


async def _record_single_submits(
    rows: list[dict[str, Any]],
) -> list[Accepted | IdempotencyConflictError]:
    """One transaction for the rows of concurrent single submits: each stands alone, so a
    conflict answers its own request and the others are committed."""
    # The INSERT commits on its own: each row stands alone, and a key's holder is read after.
    async with raw.connection() as connection:
        recorded = await _record(connection, rows)
    return [
        IdempotencyConflictError([(0, item.key, item.task_id)])
        if isinstance(item, _Conflict)
        else item
        for item in recorded
    ]


_single_submits = Coalescer(_record_single_submits, in_flight=2)


async def _record(connection: Any, rows: list[dict[str, Any]]) -> list[Accepted | _Conflict]:
    """Insert the rows; a row whose key is taken stands for the task that holds it, or is a
    conflict if that task was made by a different request."""
    # Keys in one order in every statement: two concurrent inserts that share keys then
    # wait on each other's rows in the same order, never in a cycle (a deadlock).
    in_key_order = sorted(rows, key=lambda row: row["idempotency_key"] or "")
    columns = [[row[column] for row in in_key_order] for column in INSERTED_COLUMNS]
    created = await connection.fetch(INSERT_TASKS, *columns)
    by_id = {record["id"]: dict(record) for record in created}
    keys = [row["idempotency_key"] for row in rows if row["id"] not in by_id]
    by_key: dict[str, TaskRow] = {}
    if keys:
        holders = await connection.fetch(KEY_HOLDERS, DEFAULT_TENANT, keys)
        by_key = {record["idempotency_key"]: dict(record) for record in holders}
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


async def _publish(tasks: list[TaskRow], *, alone: bool) -> None:
    """Publish the tasks' messages (`alone`: one request's task, sent together with those of
    concurrent requests); the confirmed ones are marked published in the background (a mark
    that never lands only makes the relay send a harmless duplicate)."""
    messages = [TaskMessage.model_validate(task) for task in tasks]
    if alone:
        outcomes = [await _single_publishes.submit(message) for message in messages]
    else:
        outcomes = await publish_tasks(messages)
    published = [
        Publish(task["id"], task["replays"])
        for task, outcome in zip(tasks, outcomes, strict=True)
        if outcome is None
    ]
    if len(published) < len(tasks):
        # Those rows are committed and stay unpublished (published_at IS NULL) for the relay.
        logger.warning("%d task(s) recorded but not published yet", len(tasks) - len(published))
    if published:
        marking = asyncio.create_task(_mark_published(published))
        _marking.add(marking)
        marking.add_done_callback(_marking.discard)


_single_publishes = Coalescer(publish_tasks, in_flight=2)


async def _mark_published(publishes: list[Publish]) -> None:
    try:
        grace = get_settings().outbox_grace_seconds
        await asyncio.sleep(min(PUBLISHED_MARK_DELAY_SECONDS, grace / 2))
        await mark_published(publishes)
    except Exception as error:
        logger.warning("could not mark %d task(s) published: %s", len(publishes), error)


async def mark_published(publishes: Sequence[Publish]) -> None:
    """Record that the tasks' messages were confirmed, in one statement shared with
    concurrent callers; it locks rows in id order, as claims do, so the two never deadlock."""
    await asyncio.gather(*(_published_marks.submit(publish) for publish in publishes))


async def _record_published(publishes: list[Publish]) -> list[None]:
    async with raw.connection() as connection:
        await connection.execute(
            MARK_PUBLISHED,
            [publish.task_id for publish in publishes],
            [publish.replays for publish in publishes],
        )
    return [None] * len(publishes)


_published_marks = Coalescer(_record_published)
_marking: set[asyncio.Task[None]] = set()
