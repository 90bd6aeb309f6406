"""Recording accepted tasks, and marking their publishes confirmed: the API's hot path,
prepared SQL on the driver's connection (see db.session.Database.connection)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A task row as the database returned it (column name -> value).
TaskRow = dict[str, Any]

# One array per column: any number of rows in one prepared statement. A row is inserted
# only while its tenant stays within $14 unfinished tasks (0: no limit), counting the rows
# before it in this statement; tenant_load is kept by triggers (migration 0007). Rows go in
# in the order given (the caller's: by idempotency key).
INSERT_TASKS = """
WITH incoming AS (
    SELECT rows.*, row_number() OVER (PARTITION BY rows.tenant ORDER BY rows.ordinal) AS nth
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[],
                 $6::timestamptz[], $7::jsonb[], $8::int[], $9::text[], $10::text[],
                 $11::text[], $12::text[], $13::uuid[]) WITH ORDINALITY
         AS rows(id, name, queue, priority, status, run_at, payload, max_attempts, tenant,
                 idempotency_key, request_hash, concurrency_key, schedule_id, ordinal)
)
INSERT INTO tasks (id, name, queue, priority, status, run_at, payload, max_attempts, tenant,
                   idempotency_key, request_hash, concurrency_key, schedule_id)
SELECT incoming.id, incoming.name, incoming.queue, incoming.priority, incoming.status,
       incoming.run_at, incoming.payload, incoming.max_attempts, incoming.tenant,
       incoming.idempotency_key, incoming.request_hash, incoming.concurrency_key,
       incoming.schedule_id
FROM incoming LEFT JOIN tenant_load ON tenant_load.tenant = incoming.tenant
WHERE $14::bigint = 0 OR coalesce(tenant_load.unfinished, 0) + incoming.nth <= $14::bigint
ORDER BY incoming.ordinal
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
    "concurrency_key",
    "schedule_id",
)
KEY_HOLDERS = """
SELECT tasks.* FROM tasks
JOIN unnest($1::text[], $2::text[]) AS held(tenant, idempotency_key)
  ON tasks.tenant = held.tenant AND tasks.idempotency_key = held.idempotency_key
"""
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


@dataclass(frozen=True)
class Publish:
    """A confirmed publish of a task: of its submit (replays 0) or of its nth replay."""

    task_id: uuid.UUID
    replays: int


async def insert_tasks(
    *, connection: Any, rows: Sequence[dict[str, Any]], unfinished_limit: int
) -> list[TaskRow]:
    """Insert the rows (each with every column of INSERTED_COLUMNS) in one statement; the
    rows inserted. Left out: a row whose idempotency key its tenant has used already, and
    one that would take its tenant past `unfinished_limit` unfinished tasks (0: none)."""
    # Keys in one order in every statement: two concurrent inserts that share keys then
    # wait on each other's rows in the same order, never in a cycle (a deadlock).
    in_key_order = sorted(rows, key=lambda row: (row["tenant"], row["idempotency_key"] or ""))
    columns = [[row[column] for row in in_key_order] for column in INSERTED_COLUMNS]
    records = await connection.fetch(INSERT_TASKS, *columns, unfinished_limit)
    return [dict(record) for record in records]


async def tasks_holding_keys(
    *, connection: Any, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], TaskRow]:
    """The tasks that hold these (tenant, idempotency key) pairs, by pair."""
    records = await connection.fetch(
        KEY_HOLDERS, [tenant for tenant, _ in keys], [key for _, key in keys]
    )
    return {(record["tenant"], record["idempotency_key"]): dict(record) for record in records}


async def mark_published(*, connection: Any, publishes: Sequence[Publish]) -> None:
    """Record that the tasks' messages were confirmed, in one statement committed on its
    own; it locks rows in id order, as claims do, so the two never deadlock."""
    await connection.execute(
        MARK_PUBLISHED,
        [publish.task_id for publish in publishes],
        [publish.replays for publish in publishes],
    )
