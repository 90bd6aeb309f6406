"""Recording accepted tasks, and marking their publishes confirmed: the API's hot path,
prepared SQL on the driver's connection (see db.session.Database.connection)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Publish:
    """A confirmed publish of a task: of its submit (replays 0) or of its nth replay."""

    task_id: uuid.UUID
    replays: int


async def insert_tasks(*, connection: Any, rows: Sequence[dict[str, Any]]) -> list[TaskRow]:
    """Insert the rows (each with every column of INSERTED_COLUMNS) in one statement; the
    rows inserted. A row whose idempotency key its tenant has used already is left out."""
    # Keys in one order in every statement: two concurrent inserts that share keys then
    # wait on each other's rows in the same order, never in a cycle (a deadlock).
    in_key_order = sorted(rows, key=lambda row: row["idempotency_key"] or "")
    columns = [[row[column] for row in in_key_order] for column in INSERTED_COLUMNS]
    return [dict(record) for record in await connection.fetch(INSERT_TASKS, *columns)]


async def tasks_holding_keys(
    *, connection: Any, tenant: str, keys: Sequence[str]
) -> dict[str, TaskRow]:
    """The tenant's tasks that hold these idempotency keys, by key."""
    records = await connection.fetch(KEY_HOLDERS, tenant, list(keys))
    return {record["idempotency_key"]: dict(record) for record in records}


async def mark_published(*, connection: Any, publishes: Sequence[Publish]) -> None:
    """Record that the tasks' messages were confirmed, in one statement committed on its
    own; it locks rows in id order, as claims do, so the two never deadlock."""
    await connection.execute(
        MARK_PUBLISHED,
        [publish.task_id for publish in publishes],
        [publish.replays for publish in publishes],
    )
