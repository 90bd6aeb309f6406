"""Replaying dead tasks: queued again with a fresh attempt count, then published.

A replay is one conditional UPDATE (`WHERE status = 'dead'`), so of two replays of one
task only one wins. The error history stays, so the task still shows what happened before.
As on submit, the change is committed before the message is sent: a publish the broker
does not confirm leaves `published_at` NULL, and the outbox relay sends it.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.dead_letters import (
    DeadLetterFilter,
    get_dead_letter,
    is_message_record,
    not_dead_error,
)
from app.services.errors import InvalidPayloadError, NotReplayableError, UnknownHandlerError
from app.services.submission import Publish, mark_published, validate_submission
from db.models import Task, TaskStatus
from publishers.messages import TaskMessage
from publishers.tasks import publish_tasks

logger = logging.getLogger(__name__)

# Dead tasks replayed per transaction by a bulk replay.
REPLAY_BATCH_SIZE = 500


@dataclass(frozen=True)
class BulkReplay:
    """The tasks a bulk replay queued again, and how many matching ones could not run."""

    replayed: list[uuid.UUID]
    skipped: int


async def replay_dead_letter(
    *, session: AsyncSession, task_id: uuid.UUID, payload: dict[str, Any] | None = None
) -> Task:
    """Queue the dead task again (with `payload` instead of its own, if given), commit, then
    publish it; the task as replayed."""
    task = await get_dead_letter(session=session, task_id=task_id)
    new_payload = _checked_payload(task, payload)
    replayed = await _replay(session=session, task_ids=[task_id], payload=new_payload)
    if not replayed:
        # Replayed or purged by another request since it was read.
        error = await not_dead_error(session=session, task_id=task_id)
        await session.rollback()
        raise error
    await session.commit()
    await _publish(replayed)
    return replayed[0]


async def replay_matching(
    *,
    session: AsyncSession,
    selection: DeadLetterFilter,
    limit: int,
    batch_size: int = REPLAY_BATCH_SIZE,
) -> BulkReplay:
    """Replay up to `limit` dead tasks matching the filter, longest dead first, one
    transaction of at most `batch_size` each; those that cannot run are skipped."""
    # Only tasks dead when the request came: one replayed here that dies again meanwhile is
    # not replayed a second time.
    started = (await session.execute(select(func.now()))).scalar_one()
    replayed: list[uuid.UUID] = []
    skipped = 0
    after: tuple[datetime | None, uuid.UUID] | None = None
    while len(replayed) < limit:
        wanted = min(batch_size, limit - len(replayed))
        batch = await _lock_batch(
            session=session, selection=selection, started=started, after=after, size=wanted
        )
        if not batch:
            break
        after = (batch[-1].finished_at, batch[-1].id)
        runnable = [task.id for task in batch if _can_replay(task)]
        skipped += len(batch) - len(runnable)
        tasks = await _replay(session=session, task_ids=runnable)
        await session.commit()
        await _publish(tasks)
        replayed.extend(task.id for task in tasks)
        if len(batch) < wanted:
            break
    await session.commit()
    return BulkReplay(replayed=replayed, skipped=skipped)


async def _lock_batch(
    *,
    session: AsyncSession,
    selection: DeadLetterFilter,
    started: datetime,
    after: tuple[datetime | None, uuid.UUID] | None,
    size: int,
) -> list[Task]:
    """The next dead tasks to replay, locked; rows another replay or purge holds are skipped."""
    query = (
        select(Task)
        .where(*selection.conditions(), Task.finished_at <= started)
        .order_by(Task.finished_at, Task.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        query = query.where(tuple_(Task.finished_at, Task.id) > after)
    return list(await session.scalars(query))


async def _replay(
    *, session: AsyncSession, task_ids: Sequence[uuid.UUID], payload: dict[str, Any] | None = None
) -> list[Task]:
    """The one conditional UPDATE that turns dead tasks into queued ones (not committed);
    the tasks it changed."""
    if not task_ids:
        return []
    values: dict[str, Any] = {
        "status": TaskStatus.QUEUED,
        "attempts": 0,
        "replays": Task.replays + 1,
        "result": None,
        "error": None,
        "traceback": None,
        "started_at": None,
        "finished_at": None,
        "published_at": None,
        "lease_expires_at": None,
        "due_at": None,
        "cancel_requested_at": None,
    }
    if payload is not None:
        values["payload"] = payload
    replayed = await session.scalars(
        update(Task)
        .where(Task.id.in_(task_ids), Task.status == TaskStatus.DEAD)
        .values(values)
        .returning(Task),
        execution_options={"populate_existing": True},
    )
    return list(replayed)


def _checked_payload(task: Task, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """The new payload to store (None: keep the task's own), once the task can run with it;
    NotReplayableError, or InvalidPayloadError for a new payload that does not fit."""
    if is_message_record(task):
        raise NotReplayableError(
            task.id,
            "it records a message no worker could read, not a submitted task, so it has no "
            "handler and payload that can run; purge it, or submit the task anew",
        )
    try:
        _, normalized = validate_submission(
            name=task.name, payload=task.payload if payload is None else payload
        )
    except UnknownHandlerError as error:
        raise NotReplayableError(
            task.id,
            f"its handler {task.name!r} no longer exists; known handlers: {', '.join(error.known)}",
        ) from error
    except InvalidPayloadError as error:
        if payload is not None:
            raise
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'payload'}: {item['msg']}"
            for item in error.errors
        )
        raise NotReplayableError(
            task.id,
            f"its payload no longer fits handler {task.name!r} ({problems}); replay it with "
            "an edited payload",
        ) from error
    return None if payload is None else normalized


def _can_replay(task: Task) -> bool:
    try:
        _checked_payload(task, None)
    except NotReplayableError:
        return False
    return True


async def _publish(tasks: Sequence[Task]) -> None:
    """Publish the committed tasks; mark the confirmed ones, leave the rest to the relay."""
    outcomes = await publish_tasks([TaskMessage.model_validate(task) for task in tasks])
    published = [
        Publish(task.id, task.replays)
        for task, outcome in zip(tasks, outcomes, strict=True)
        if outcome is None
    ]
    if len(published) < len(tasks):
        logger.warning("%d replayed task(s) not published yet", len(tasks) - len(published))
    try:
        await mark_published(published)
    except Exception as error:
        # Unmarked, they are published again by the relay; a claim runs each once.
        logger.warning("could not mark %d replayed task(s) published: %s", len(published), error)
