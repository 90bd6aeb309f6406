"""The tasks of queues with controls (paused, concurrency and rate limits): claimed one at a
time under their queue's settings row lock, held back (queued, with no message) when a
control says wait, and let go again when it allows. Prepared SQL on the driver's
connection, as the other claims."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from db.tasks.attempts import Claimed, ClaimResult, NotRunnable, claim_many

# Held tasks a release looks at, per queue and run.
RELEASE_BATCH = 500

TASK_QUEUE = "SELECT tenant, queue, concurrency_key FROM tasks WHERE id = $1"
# The lock that makes the controls exact across workers: every controlled claim of the
# queue, and every release, takes it first. The bucket is refilled as it is read.
LOCK_CONTROLS = """
SELECT paused, concurrency_limit, key_concurrency_limit, rate_limit_per_second,
       -- A bucket of one second's starts (at least one).
       least(greatest(coalesce(rate_limit_per_second, 0), 1),
             tokens + extract(epoch FROM now() - tokens_at) * coalesce(rate_limit_per_second, 0))
           AS tokens
FROM queue_settings WHERE tenant = $1 AND name = $2 FOR UPDATE
"""
# The same, for a release: a queue another process is releasing now is left to it.
LOCK_CONTROLS_UNLESS_TAKEN = LOCK_CONTROLS.replace("FOR UPDATE", "FOR UPDATE SKIP LOCKED")
RUNNING = """
SELECT count(*) FROM tasks WHERE status = 'running' AND tenant = $1 AND queue = $2
"""
RUNNING_OF_KEY = """
SELECT count(*) FROM tasks
WHERE status = 'running' AND tenant = $1 AND queue = $2 AND concurrency_key = $3
"""
TAKE_TOKEN = """
UPDATE queue_settings SET tokens = $3, tokens_at = now() WHERE tenant = $1 AND name = $2
"""
# Held: queued again if its retry came back, due nowhere (it has no message to wait for).
HOLD = """
UPDATE tasks SET status = 'queued', due_at = NULL, held_reason = $2,
                 held_at = coalesce(held_at, now()),
                 published_at = coalesce(published_at, now())
WHERE id = $1 AND status IN ('queued', 'retrying')
RETURNING id
"""
# The queues that hold tasks back (a queue's held tasks keep its settings row).
QUEUES_HOLDING = """
SELECT controls.tenant, controls.name FROM queue_settings AS controls
WHERE EXISTS (SELECT 1 FROM tasks WHERE tasks.tenant = controls.tenant
              AND tasks.queue = controls.name AND tasks.held_at IS NOT NULL
              AND tasks.status = 'queued')
ORDER BY controls.tenant, controls.name
"""
# Oldest first.
HELD = """
SELECT id FROM tasks
WHERE tenant = $1 AND queue = $2 AND held_at IS NOT NULL
ORDER BY created_at LIMIT $3
"""
# Oldest first, each key's up to what its limit leaves it: every key with tasks held gets
# its share however long another key's backlog is. Keys are walked through the index of
# held tasks, one probe each; tasks without a key are not limited by key.
HELD_BY_KEY = """
WITH RECURSIVE keys(key) AS (
    SELECT min(concurrency_key) FROM tasks
    WHERE tenant = $1 AND queue = $2 AND held_at IS NOT NULL AND concurrency_key IS NOT NULL
  UNION ALL
    SELECT (SELECT min(concurrency_key) FROM tasks
            WHERE tenant = $1 AND queue = $2 AND held_at IS NOT NULL
              AND concurrency_key > keys.key)
    FROM keys WHERE keys.key IS NOT NULL
), running AS (
    SELECT concurrency_key AS key, count(*) AS n FROM tasks
    WHERE status = 'running' AND tenant = $1 AND queue = $2 AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key
), candidates AS (
    SELECT picked.id, picked.created_at FROM keys
    LEFT JOIN running ON running.key = keys.key
    CROSS JOIN LATERAL (
        SELECT id, created_at FROM tasks
        WHERE tenant = $1 AND queue = $2 AND held_at IS NOT NULL
          AND concurrency_key = keys.key
        ORDER BY created_at LIMIT greatest(0, $3::int - coalesce(running.n, 0))
    ) AS picked
    WHERE keys.key IS NOT NULL
  UNION ALL
    (SELECT id, created_at FROM tasks
     WHERE tenant = $1 AND queue = $2 AND held_at IS NOT NULL AND concurrency_key IS NULL
     ORDER BY created_at LIMIT $4)
)
SELECT id FROM candidates ORDER BY created_at LIMIT $4
"""
# Locked for the release, with what their messages carry.
LOCK_HELD = """
SELECT id, name, payload, queue, priority, tenant FROM tasks
WHERE id = ANY($1::uuid[]) AND held_at IS NOT NULL AND status = 'queued'
ORDER BY id FOR UPDATE SKIP LOCKED
"""
UNHOLD = """
UPDATE tasks SET held_reason = NULL, held_at = NULL, published_at = now()
WHERE id = ANY($1::uuid[]) AND held_at IS NOT NULL
"""


@dataclass(frozen=True)
class Held:
    """A control of the task's queue holds it back: `reason` names it."""

    reason: str


@dataclass(frozen=True)
class Controls:
    """A queue's controls as its locked settings row says, with its bucket refilled."""

    paused: bool
    concurrency_limit: int | None
    key_concurrency_limit: int | None
    rate_limit_per_second: float | None
    tokens: float

    @classmethod
    def of(cls, row: Any) -> "Controls":
        return cls(
            paused=row["paused"],
            concurrency_limit=row["concurrency_limit"],
            key_concurrency_limit=row["key_concurrency_limit"],
            rate_limit_per_second=row["rate_limit_per_second"],
            tokens=float(row["tokens"]),
        )


async def claim_controlled(
    *, connection: Any, task_id: uuid.UUID, lease: timedelta, history: int
) -> ClaimResult | Held:
    """Claim a task of a queue with controls, or hold it back, in one transaction that
    holds its queue's lock: two workers never both take the last slot."""
    async with connection.transaction():
        task = await connection.fetchrow(TASK_QUEUE, task_id)
        if task is None:
            return NotRunnable(status=None)
        tenant, queue = task["tenant"], task["queue"]
        row = await connection.fetchrow(LOCK_CONTROLS, tenant, queue)
        controls = Controls.of(row) if row is not None else None
        if controls is not None:
            reason = await _held_back_by(connection, controls, tenant, queue, task)
            if reason is not None and await connection.fetchval(HOLD, task_id, reason):
                return Held(reason)
        [claim] = await claim_many(
            connection=connection,
            task_ids=[task_id],
            lease=lease,
            history=history,
            controlled=True,
        )
        rate_limited = controls is not None and controls.rate_limit_per_second is not None
        if rate_limited and isinstance(claim, Claimed):
            assert controls is not None
            await connection.execute(TAKE_TOKEN, tenant, queue, controls.tokens - 1)
        return claim


async def _held_back_by(
    connection: Any, controls: Controls, tenant: str, queue: str, task: Any
) -> str | None:
    """The control that holds the task back now, if one does."""
    if controls.paused:
        return "paused"
    limit = controls.concurrency_limit
    if limit is not None and await connection.fetchval(RUNNING, tenant, queue) >= limit:
        return "concurrency_limit"
    key, key_limit = task["concurrency_key"], controls.key_concurrency_limit
    if (
        key is not None
        and key_limit is not None
        and await connection.fetchval(RUNNING_OF_KEY, tenant, queue, key) >= key_limit
    ):
        return "key_concurrency_limit"
    if controls.rate_limit_per_second is not None and controls.tokens < 1:
        return "rate_limit_per_second"
    return None


async def queues_holding(*, connection: Any) -> list[tuple[str, str]]:
    """(tenant, queue) of each queue holding tasks back."""
    return [(row["tenant"], row["name"]) for row in await connection.fetch(QUEUES_HOLDING)]


async def releasable(*, connection: Any, tenant: str, queue: str) -> list[dict[str, Any]]:
    """The held tasks of the queue its controls let go now, locked, oldest first (within
    each key's share): what their messages carry. Nothing if another process is releasing
    the queue now. The queue stays locked until the caller's transaction ends."""
    row = await connection.fetchrow(LOCK_CONTROLS_UNLESS_TAKEN, tenant, queue)
    if row is None:
        return []
    controls = Controls.of(row)
    if controls.paused:
        return []
    room = RELEASE_BATCH
    if controls.concurrency_limit is not None:
        running = await connection.fetchval(RUNNING, tenant, queue)
        room = min(room, controls.concurrency_limit - running)
    if controls.rate_limit_per_second is not None:
        room = min(room, int(controls.tokens))
    if room <= 0:
        return []
    if controls.key_concurrency_limit is not None:
        ids = await connection.fetch(
            HELD_BY_KEY, tenant, queue, controls.key_concurrency_limit, room
        )
    else:
        ids = await connection.fetch(HELD, tenant, queue, room)
    if not ids:
        return []
    rows = await connection.fetch(LOCK_HELD, [row["id"] for row in ids])
    return [dict(row) for row in rows]


async def unhold(*, connection: Any, task_ids: Sequence[uuid.UUID]) -> None:
    """The tasks' messages were confirmed: they wait for a worker again."""
    await connection.execute(UNHOLD, list(task_ids))
