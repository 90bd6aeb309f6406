"""Running a task on a worker: claim it, run its handler, record the outcome.

Every state change is one conditional UPDATE, so a redelivered or duplicated message can
never move a task backwards or run a finished task again.
"""

import asyncio
import enum
import logging
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.handlers.registry import TaskHandler, registry
from db.models import Task, TaskStatus

logger = logging.getLogger(__name__)


class Verdict(enum.Enum):
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery of a task message."""

    verdict: Verdict
    reason: str | None = None


@dataclass(frozen=True)
class Claim:
    payload: dict[str, Any]
    attempts: int


async def execute_task(*, session: AsyncSession, task_id: uuid.UUID, name: str) -> Outcome:
    """Run the task if it is still waiting to run, and commit its outcome."""
    handler = registry.get(name)
    if handler is None:
        reason = f"unknown handler {name!r}; this worker knows: {', '.join(registry.names())}"
        await _mark_dead(session=session, task_id=task_id, error=reason, trace=None)
        return Outcome(Verdict.DEAD, reason)
    claim = await _claim(session=session, task_id=task_id)
    if claim is None:
        return Outcome(Verdict.SKIPPED, "task is not waiting to run")
    try:
        result = await _run_handler(handler, claim.payload)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        await _mark_dead(
            session=session, task_id=task_id, error=reason, trace=traceback.format_exc()
        )
        return Outcome(Verdict.DEAD, reason)
    await _mark_succeeded(session=session, task_id=task_id, result=result)
    return Outcome(Verdict.SUCCEEDED)


async def _run_handler(handler: TaskHandler, payload: dict[str, Any]) -> Any:
    arguments = handler.parse_payload(payload)
    if handler.is_async:
        result = await handler.func(arguments)
    else:
        result = await asyncio.to_thread(handler.func, arguments)
    return to_jsonable_python(result)


async def _claim(*, session: AsyncSession, task_id: uuid.UUID) -> Claim | None:
    row = (
        await session.execute(
            update(Task)
            .where(Task.id == task_id, Task.status == TaskStatus.QUEUED)
            .values(
                status=TaskStatus.RUNNING,
                started_at=func.now(),
                attempts=Task.attempts + 1,
            )
            .returning(Task.payload, Task.attempts)
        )
    ).one_or_none()
    await session.commit()
    return None if row is None else Claim(payload=row.payload, attempts=row.attempts)


async def _mark_succeeded(*, session: AsyncSession, task_id: uuid.UUID, result: Any) -> None:
    await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.RUNNING)
        .values(status=TaskStatus.SUCCEEDED, result=result, finished_at=func.now())
    )
    await session.commit()


async def _mark_dead(
    *, session: AsyncSession, task_id: uuid.UUID, error: str, trace: str | None
) -> None:
    await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status.in_([TaskStatus.QUEUED, TaskStatus.RUNNING]))
        .values(status=TaskStatus.DEAD, error=error, traceback=trace, finished_at=func.now())
    )
    await session.commit()
