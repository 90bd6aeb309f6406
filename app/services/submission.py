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
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.registry import TaskHandler, registry
from app.services.errors import (
    IdempotencyConflictError,
    InvalidBatchError,
    InvalidPayloadError,
    UnknownHandlerError,
    UnknownQueueError,
)
from app.services.payloads import unstorable
from app.services.queues import known_queues
from db.models import Task, TaskStatus
from publishers import constants
from publishers.messages import TaskMessage
from publishers.tasks import publish_task

logger = logging.getLogger(__name__)

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

    task: Task
    created: bool


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


async def submit_task(*, session: AsyncSession, submission: Submission) -> Accepted:
    """Record a task, commit, then publish it; the commit is what makes it accepted."""
    (accepted,) = await _record_and_publish(session=session, rows=[_task_row(submission)])
    return accepted


async def submit_batch(
    *, session: AsyncSession, submissions: Sequence[Submission]
) -> list[Accepted]:
    """Record every task in one transaction, or none: an invalid one fails the batch."""
    rows, problems = [], []
    for index, submission in enumerate(submissions):
        try:
            rows.append(_task_row(submission))
        except (UnknownHandlerError, UnknownQueueError, InvalidPayloadError) as error:
            problems.append((index, error))
    if problems:
        raise InvalidBatchError(problems)
    return await _record_and_publish(session=session, rows=rows)


def _task_row(submission: Submission) -> dict[str, Any]:
    handler, payload = validate_submission(name=submission.name, payload=submission.payload)
    max_attempts = submission.max_attempts or handler.max_attempts
    queue = submission.queue or handler.queue
    if queue != handler.queue and queue not in known_queues():
        raise UnknownQueueError(queue, known_queues())
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
        "payload": payload,
        "max_attempts": max_attempts,
        "tenant": DEFAULT_TENANT,
        "idempotency_key": submission.idempotency_key,
        "request_hash": hashlib.sha256(canonical.encode()).hexdigest(),
    }


async def _record_and_publish(
    *, session: AsyncSession, rows: list[dict[str, Any]]
) -> list[Accepted]:
    accepted = await _record(session=session, rows=rows)
    await session.commit()
    due_now = [
        item.task for item in accepted if item.created and item.task.status == TaskStatus.QUEUED
    ]
    await _publish(due_now, session=session)
    return accepted


async def _record(*, session: AsyncSession, rows: list[dict[str, Any]]) -> list[Accepted]:
    """Insert the rows; a row whose key is taken stands for the task that holds it."""
    created = await session.scalars(
        insert(Task)
        .on_conflict_do_nothing(
            index_elements=[Task.tenant, Task.idempotency_key],
            index_where=Task.idempotency_key.is_not(None),
        )
        .returning(Task),
        rows,
    )
    by_id = {task.id: task for task in created}
    keys = [row["idempotency_key"] for row in rows if row["id"] not in by_id]
    by_key: dict[str | None, Task] = {}
    if keys:
        holders = await session.scalars(
            select(Task).where(Task.tenant == DEFAULT_TENANT, Task.idempotency_key.in_(keys))
        )
        by_key = {task.idempotency_key: task for task in holders}
    accepted, conflicts = [], []
    for index, row in enumerate(rows):
        if row["id"] in by_id:
            accepted.append(Accepted(task=by_id[row["id"]], created=True))
            continue
        existing = by_key[row["idempotency_key"]]
        if existing.request_hash != row["request_hash"]:
            conflicts.append((index, row["idempotency_key"], existing.id))
        accepted.append(Accepted(task=existing, created=False))
    if conflicts:
        await session.rollback()
        raise IdempotencyConflictError(conflicts)
    return accepted


async def _publish(tasks: list[Task], *, session: AsyncSession) -> None:
    outcomes = await asyncio.gather(
        *(publish_task(TaskMessage.model_validate(task)) for task in tasks),
        return_exceptions=True,
    )
    published = [task.id for task, outcome in zip(tasks, outcomes, strict=True) if outcome is None]
    if len(published) < len(tasks):
        # Those rows are committed and stay unpublished (published_at IS NULL) for the relay.
        logger.warning("%d task(s) recorded but not published yet", len(tasks) - len(published))
    if published:
        await session.execute(
            update(Task).where(Task.id.in_(published)).values(published_at=func.now())
        )
        await session.commit()
