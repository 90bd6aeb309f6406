"""Submitting tasks and reading them back."""

import asyncio
import enum
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.registry import TaskHandler, registry
from app.services.errors import (
    InvalidBatchError,
    InvalidPayloadError,
    TaskNotFoundError,
    UnknownHandlerError,
)
from app.services.pagination import Cursor, Page
from app.services.payloads import unstorable
from db.models import Task, TaskStatus
from publishers.messages import TaskMessage
from publishers.tasks import publish_task

logger = logging.getLogger(__name__)


class QueueName(enum.StrEnum):
    MAIN = "main"
    DEAD_LETTER = "dead-letter"


# The statuses of the tasks each queue holds: the main queue has the work still to do.
QUEUE_STATUSES: dict[QueueName, tuple[TaskStatus, ...]] = {
    QueueName.MAIN: (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING),
    QueueName.DEAD_LETTER: (TaskStatus.DEAD,),
}


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


@dataclass(frozen=True)
class Submission:
    """One task a client asks for."""

    name: str
    payload: dict[str, Any]
    max_attempts: int | None = None


def _task_row(submission: Submission) -> dict[str, Any]:
    handler, payload = validate_submission(name=submission.name, payload=submission.payload)
    return {
        "id": uuid.uuid4(),
        "name": submission.name,
        "status": TaskStatus.QUEUED,
        "payload": payload,
        "max_attempts": submission.max_attempts or handler.max_attempts,
    }


async def submit_task(*, session: AsyncSession, submission: Submission) -> Task:
    """Record a task, commit, then publish it; the commit is what makes it accepted."""
    (task,) = await _record_and_publish(session=session, rows=[_task_row(submission)])
    return task


async def submit_batch(*, session: AsyncSession, submissions: Sequence[Submission]) -> list[Task]:
    """Record every task in one transaction, or none: an invalid one fails the batch."""
    rows, problems = [], []
    for index, submission in enumerate(submissions):
        try:
            rows.append(_task_row(submission))
        except (UnknownHandlerError, InvalidPayloadError) as error:
            problems.append((index, error))
    if problems:
        raise InvalidBatchError(problems)
    return await _record_and_publish(session=session, rows=rows)


async def _record_and_publish(*, session: AsyncSession, rows: list[dict[str, Any]]) -> list[Task]:
    tasks = list(
        await session.scalars(insert(Task).returning(Task, sort_by_parameter_order=True), rows)
    )
    await session.commit()
    outcomes = await asyncio.gather(
        *(publish_task(TaskMessage(id=t.id, name=t.name, payload=t.payload)) for t in tasks),
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
    return tasks


async def get_task(*, session: AsyncSession, task_id: uuid.UUID) -> Task:
    """The task with this id, or TaskNotFoundError."""
    task = await session.get(Task, task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


async def list_tasks(
    *,
    session: AsyncSession,
    statuses: Collection[str] = (),
    limit: int,
    cursor: Cursor | None = None,
) -> Page[Task]:
    """Tasks newest first, optionally only those in `statuses`, one page at a time."""
    query = select(Task).order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
    if statuses:
        query = query.where(Task.status.in_(statuses))
    if cursor is not None:
        query = query.where(tuple_(Task.created_at, Task.id) < (cursor.created_at, cursor.id))
    tasks = list(await session.scalars(query))
    if len(tasks) <= limit:
        return Page(items=tasks, next_cursor=None)
    last = tasks[limit - 1]
    return Page(items=tasks[:limit], next_cursor=Cursor(created_at=last.created_at, id=last.id))
