"""What a worker does to a task: claim it, record its success, its retry or its death,
cancel it on request, hand it back, keep its lease. Each change is one conditional UPDATE:
the WHERE clause names the states (and, for a running task, the attempt) it may start from,
so a redelivered or duplicated message can never move a task backwards or finish a task
that another worker has taken over."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Task, TaskStatus


@dataclass(frozen=True)
class Claimed:
    """This worker now runs attempt `attempt` of the task."""

    # The handler comes from the row, never from the message that asked for the run.
    name: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    # A client asked to cancel the task while it ran (its worker died or handed it back).
    cancel_requested: bool = False
    # Its named queue and tenant, as the row says (for metrics and log lines).
    queue: str = ""
    tenant: str = ""
    # How long it waited for this attempt, from when it could first run (created, or due:
    # its run_at, its retry's backoff, its last worker's lapsed lease); None: not known (a
    # replayed task, or one handed back).
    waited_seconds: float | None = None


@dataclass(frozen=True)
class HeldElsewhere:
    """Another worker holds a live lease on the task."""

    lease_left_seconds: float


@dataclass(frozen=True)
class NotRunnable:
    """The task is finished, or unknown."""

    status: str | None


@dataclass(frozen=True)
class Controlled:
    """The task waits, but its queue has controls (paused, limits): it is claimed apart,
    under its queue's lock (db/tasks/controls.py)."""


ClaimResult = Claimed | HeldElsewhere | NotRunnable | Controlled


@dataclass(frozen=True)
class Success:
    """Attempt `attempt` of the task returned `result`."""

    task_id: uuid.UUID
    attempt: int
    result: Any


LOST_ATTEMPT_ERROR = "worker lost: its lease lapsed mid-attempt"

# A queue's settings row, if it has one: a queue with controls is claimed apart (the
# lookup is one probe of a small primary key).
WITH_CONTROLS = """
    LEFT JOIN queue_settings AS controls
      ON controls.tenant = tasks.tenant AND controls.name = tasks.queue
"""
# The queue has a control on; one without has no settings row, or every control off.
HAS_CONTROLS = """
    coalesce(controls.paused OR controls.concurrency_limit IS NOT NULL
             OR controls.key_concurrency_limit IS NOT NULL
             OR controls.rate_limit_per_second IS NOT NULL, false)
"""
# What a claim may take: a waiting task, or a running one whose lease lapsed.
CLAIMABLE = """
    (tasks.status IN ('queued', 'retrying')
     OR (tasks.status = 'running' AND tasks.lease_expires_at < now()))
"""
# The batched forms lock their rows in id order, so two batches never deadlock each other.
CLAIM_MANY = f"""
    WITH locked AS (
        SELECT id,
            CASE
                WHEN status = 'retrying' THEN
                    (errors -> -1 ->> 'failed_at')::timestamptz
                    + make_interval(secs => (errors -> -1 ->> 'retry_in')::float8)
                WHEN status = 'running' THEN lease_expires_at
                WHEN status = 'queued' AND started_at IS NULL AND replays = 0 THEN
                    greatest(created_at, run_at)
            END AS ready_at
        FROM tasks {WITH_CONTROLS}
        WHERE tasks.id = ANY($1::uuid[]) AND ($5::bool OR NOT {HAS_CONTROLS})
        ORDER BY tasks.id FOR UPDATE OF tasks
    )
    UPDATE tasks SET
        status = 'running',
        attempts = tasks.attempts + 1,
        -- When this statement began, not its transaction: a claim of a queue with controls
        -- first waits for its queue's lock, and starts only once the task it waits on has
        -- finished (alone, the statement is its transaction: the same moment).
        started_at = statement_timestamp(),
        lease_expires_at = now() + $2::interval,
        due_at = NULL,
        held_reason = NULL,
        held_at = NULL,
        -- A claim proves the message arrived: the API's own mark may then skip the row.
        published_at = coalesce(tasks.published_at, statement_timestamp()),
        errors = CASE WHEN tasks.status = 'running' THEN
            -- The history keeps the latest $4 attempts.
            (CASE WHEN jsonb_array_length(tasks.errors) >= $4::int
                  THEN tasks.errors - 0 ELSE tasks.errors END)
            || jsonb_build_array(jsonb_build_object(
                'attempt', tasks.attempts, 'started_at', tasks.started_at,
                'failed_at', now(), 'error', $3::text, 'retry_in', NULL
            ))
        ELSE tasks.errors END
    FROM locked
    WHERE tasks.id = locked.id AND {CLAIMABLE}
    RETURNING tasks.id, tasks.name, tasks.payload, tasks.attempts, tasks.max_attempts,
              tasks.cancel_requested_at, tasks.queue, tasks.tenant,
              extract(epoch FROM tasks.started_at - locked.ready_at) AS waited
"""
# Why a claim left them; `controlled`: it could have taken the task, but for its queue's
# controls.
UNCLAIMED = f"""
    SELECT tasks.id, tasks.status, extract(epoch FROM tasks.lease_expires_at - now()) AS lease_left,
           {HAS_CONTROLS} AND {CLAIMABLE} AS controlled
    FROM tasks {WITH_CONTROLS}
    WHERE tasks.id = ANY($1::uuid[])
"""
SUCCEED_MANY = """
    WITH done AS (
        SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[]) AS done(id, attempt, result)
        ORDER BY id
    ), locked AS (
        SELECT tasks.id FROM tasks JOIN done USING (id) ORDER BY tasks.id FOR UPDATE OF tasks
    )
    UPDATE tasks SET
        status = 'succeeded',
        result = CAST(done.result AS jsonb),
        error = NULL,
        traceback = NULL,
        finished_at = now(),
        lease_expires_at = NULL
    FROM done, locked
    WHERE tasks.id = done.id AND tasks.id = locked.id
      AND tasks.status = 'running' AND tasks.attempts = done.attempt
    RETURNING tasks.id
"""


async def claim_many(
    *,
    connection: Any,
    task_ids: Sequence[uuid.UUID],
    lease: timedelta,
    history: int,
    controlled: bool = False,
) -> list[ClaimResult]:
    """Take the tasks to run, in one statement committed on its own (on an asyncpg
    connection): each waiting one, or running under a lease that lapsed (its worker died;
    the lost attempt goes into its history in the same statement). One result per id, in
    order; an id given twice is claimed once, the repeat finds it held (by this worker)."""
    unique = list(dict.fromkeys(task_ids))
    rows = await connection.fetch(
        CLAIM_MANY, unique, lease, LOST_ATTEMPT_ERROR, history, controlled
    )
    claimed: dict[uuid.UUID, ClaimResult] = {
        row["id"]: Claimed(
            name=row["name"],
            payload=row["payload"],
            attempt=row["attempts"],
            max_attempts=row["max_attempts"],
            cancel_requested=row["cancel_requested_at"] is not None,
            queue=row["queue"],
            tenant=row["tenant"],
            waited_seconds=None if row["waited"] is None else max(float(row["waited"]), 0.0),
        )
        for row in rows
    }
    others = [task_id for task_id in unique if task_id not in claimed]
    if others:
        for row in await connection.fetch(UNCLAIMED, others):
            if row["controlled"] and not controlled:
                claimed[row["id"]] = Controlled()
            elif row["status"] == TaskStatus.RUNNING:
                claimed[row["id"]] = HeldElsewhere(max(float(row["lease_left"] or 0), 0.0))
            else:
                claimed[row["id"]] = NotRunnable(status=row["status"])
    results: list[ClaimResult] = []
    seen: set[uuid.UUID] = set()
    for task_id in task_ids:
        if task_id in seen:
            results.append(HeldElsewhere(lease.total_seconds()))
        else:
            results.append(claimed.get(task_id, NotRunnable(status=None)))
        seen.add(task_id)
    return results


async def succeed_many(*, connection: Any, successes: Sequence[Success]) -> set[uuid.UUID]:
    """`succeed` for many attempts in one statement committed on its own (on an asyncpg
    connection); the ids whose attempt still held its task (and so were recorded)."""
    rows = await connection.fetch(
        SUCCEED_MANY,
        [success.task_id for success in successes],
        [success.attempt for success in successes],
        [json.dumps(success.result) for success in successes],
    )
    return {row["id"] for row in rows}


def finishing(status: TaskStatus, **values: Any) -> dict[str, Any]:
    """The columns every move to a terminal state sets (it holds no lease, is due nowhere,
    no control holds it), and `values`."""
    return {
        "status": status,
        "finished_at": func.now(),
        "lease_expires_at": None,
        "due_at": None,
        "held_reason": None,
        "held_at": None,
        **values,
    }


def attempt_entry(attempt: int, error: str, retry_in: float | None, *, history: int) -> Any:
    """`errors || [{attempt, started_at, failed_at, error, retry_in}]`, built in the UPDATE,
    keeping the latest `history` entries."""
    entry = bindparam(None, {"attempt": attempt, "error": error, "retry_in": retry_in}, type_=JSONB)
    times = func.jsonb_build_object("started_at", Task.started_at, "failed_at", func.now())
    kept = case(
        (func.jsonb_array_length(Task.errors) >= history, Task.errors.op("-")(0)),
        else_=Task.errors,
    )
    return kept.op("||")(func.jsonb_build_array(times.op("||")(entry)))


def _running(task_id: uuid.UUID, attempt: int) -> ColumnElement[bool]:
    return (Task.id == task_id) & (Task.status == TaskStatus.RUNNING) & (Task.attempts == attempt)


async def _changed(session: AsyncSession, condition: ColumnElement[bool], **values: Any) -> bool:
    """Apply `values` to the task matching `condition`; whether one matched."""
    outcome = await session.execute(
        update(Task).where(condition).values(**values).returning(Task.id)
    )
    return outcome.one_or_none() is not None


async def succeed(*, session: AsyncSession, task_id: uuid.UUID, attempt: int, result: Any) -> bool:
    """Record the result of the attempt; False if the attempt no longer holds the task."""
    return await _changed(
        session,
        _running(task_id, attempt),
        **finishing(TaskStatus.SUCCEEDED, result=result, error=None, traceback=None),
    )


async def schedule_retry(
    *,
    session: AsyncSession,
    task_id: uuid.UUID,
    attempt: int,
    error: str,
    trace: str | None,
    retry_in: float,
    due_in: float,
    history: int,
) -> bool:
    """Record the failed attempt (its history keeps the latest `history`) and wait
    `retry_in` s for the next; `due_in` bounds how late the delayed message may come back
    before the relay sends another."""
    return await _changed(
        session,
        _running(task_id, attempt),
        status=TaskStatus.RETRYING,
        error=error,
        traceback=trace,
        errors=attempt_entry(attempt, error, round(retry_in, 3), history=history),
        lease_expires_at=None,
        due_at=func.now() + timedelta(seconds=due_in),
    )


async def bury(
    *,
    session: AsyncSession,
    task_id: uuid.UUID,
    attempt: int,
    error: str,
    trace: str | None,
    history: int,
) -> bool:
    """Mark the task dead: its attempt failed with none left (its history keeps the latest
    `history` attempts), or it cannot run at all."""
    return await _changed(
        session,
        _running(task_id, attempt),
        **finishing(
            TaskStatus.DEAD,
            error=error,
            traceback=trace,
            errors=attempt_entry(attempt, error, None, history=history),
        ),
    )


async def cancel_running(*, session: AsyncSession, task_id: uuid.UUID, attempt: int) -> bool:
    """End the attempt as cancelled (on request); False if the attempt no longer holds it."""
    return await _changed(
        session,
        _running(task_id, attempt),
        **finishing(TaskStatus.CANCELLED, error="cancelled on request while running"),
    )


async def release(*, session: AsyncSession, task_id: uuid.UUID, attempt: int) -> None:
    """Give the task back unrun (the worker is shutting down); the attempt does not count."""
    await _changed(
        session,
        _running(task_id, attempt),
        status=TaskStatus.QUEUED,
        attempts=Task.attempts - 1,
        lease_expires_at=None,
    )


async def renew_leases(
    *, session: AsyncSession, attempts: list[tuple[uuid.UUID, int]], lease: timedelta
) -> list[uuid.UUID]:
    """Extend the leases of the attempts this worker is running; the ids of those a client
    asked to cancel."""
    if not attempts:
        return []
    # Locked in id order, like the group commits of claims and successes on the same rows.
    locked = (
        select(Task.id)
        .where(Task.status == TaskStatus.RUNNING, tuple_(Task.id, Task.attempts).in_(attempts))
        .order_by(Task.id)
        .with_for_update()
        .cte("locked")
    )
    renewed = await session.execute(
        update(Task)
        .where(
            Task.id == locked.c.id,
            Task.status == TaskStatus.RUNNING,
            tuple_(Task.id, Task.attempts).in_(attempts),
        )
        .values(lease_expires_at=func.now() + lease)
        .returning(Task.id, Task.cancel_requested_at)
    )
    return [row.id for row in renewed if row.cancel_requested_at is not None]
