"""Replaying dead tasks: queued again with a fresh attempt count, then published.

A replay is one conditional UPDATE (`WHERE status = 'dead'`), so of two replays of one
task only one wins. The error history stays, so the task still shows what happened before.
As on submit, the change is committed before the message is sent: a publish the broker
does not confirm leaves `published_at` NULL, and the outbox relay sends it.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Task
from db.tasks import manage, reads
from db.tasks.filters import DeadLetterFilter
from services.dead_letters import get_dead_letter, is_message_record, not_dead_error
from services.errors import InvalidPayloadError, NotReplayableError, UnknownHandlerError
from services.outbox import Outbox
from services.payloads import PayloadLimits
from services.submission import validate_submission

# Dead tasks replayed per transaction by a bulk replay.
REPLAY_BATCH_SIZE = 500


@dataclass(frozen=True)
class BulkReplay:
    """The tasks a bulk replay queued again, and how many matching ones could not run."""

    replayed: list[uuid.UUID]
    skipped: int


async def replay_dead_letter(
    *,
    session: AsyncSession,
    outbox: Outbox,
    task_id: uuid.UUID,
    tenant: str | None,
    limits: PayloadLimits,
    payload: dict[str, Any] | None = None,
) -> Task:
    """Queue the dead task (of `tenant`, unless None) again, with `payload` instead of its
    own if given, commit, then publish it; the task as replayed."""
    task = await get_dead_letter(session=session, task_id=task_id, tenant=tenant)
    new_payload = _checked_payload(task, payload, limits)
    replayed = await manage.replay_dead(
        session=session, task_ids=[task_id], tenant=tenant, payload=new_payload
    )
    if not replayed:
        # Replayed or purged by another request since it was read.
        error = await not_dead_error(session=session, task_id=task_id, tenant=tenant)
        await session.rollback()
        raise error
    await session.commit()
    await _publish(outbox, replayed)
    return replayed[0]


async def replay_matching(
    *,
    session: AsyncSession,
    outbox: Outbox,
    selection: DeadLetterFilter,
    limit: int,
    limits: PayloadLimits,
    batch_size: int = REPLAY_BATCH_SIZE,
) -> BulkReplay:
    """Replay up to `limit` dead tasks matching the filter (its tenants), longest dead
    first, one transaction of at most `batch_size` each; those that cannot run are
    skipped."""
    # Only tasks dead when the request came: one replayed here that dies again meanwhile is
    # not replayed a second time.
    started = await reads.database_now(session=session)
    replayed: list[uuid.UUID] = []
    skipped = 0
    after: tuple[datetime | None, uuid.UUID] | None = None
    while len(replayed) < limit:
        wanted = min(batch_size, limit - len(replayed))
        batch = await manage.lock_dead_batch(
            session=session, selection=selection, died_by=started, after=after, size=wanted
        )
        if not batch:
            break
        after = (batch[-1].finished_at, batch[-1].id)
        runnable = [task.id for task in batch if _can_replay(task, limits)]
        skipped += len(batch) - len(runnable)
        # The rows are locked, and were selected by the filter's tenants.
        tasks = await manage.replay_dead(session=session, task_ids=runnable, tenant=None)
        await session.commit()
        await _publish(outbox, tasks)
        replayed.extend(task.id for task in tasks)
        if len(batch) < wanted:
            break
    await session.commit()
    return BulkReplay(replayed=replayed, skipped=skipped)


def _checked_payload(
    task: Task, payload: dict[str, Any] | None, limits: PayloadLimits
) -> dict[str, Any] | None:
    """The new payload to store (None: keep the task's own), once the task can run with it;
    NotReplayableError, or InvalidPayloadError for a new payload that does not fit."""
    if is_message_record(task):
        raise NotReplayableError(
            task.id,
            "it records a message no worker could read, not a submitted task, so it has no "
            "handler and payload that can run; purge it, or submit the task anew",
        )
    try:
        valid = validate_submission(
            name=task.name, payload=task.payload if payload is None else payload, limits=limits
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
    return None if payload is None else valid.payload


def _can_replay(task: Task, limits: PayloadLimits) -> bool:
    try:
        _checked_payload(task, None, limits)
    except NotReplayableError:
        return False
    return True


async def _publish(outbox: Outbox, tasks: Sequence[Task]) -> None:
    """Publish the committed tasks; mark the confirmed ones at once, leave the rest to the
    relay. At once: the relay counts a task as owed from its creation, long past for a dead
    task, so a late mark would let it send the replay a second time."""
    await outbox.send(tasks, shared=False, mark_at_once=True)
