"""A handler's progress report, recorded on its task while its attempt runs: one statement
committed on its own (never in the handler's transaction, so it shows while the task runs),
conditional on the attempt, so a worker that lost the task cannot overwrite what the worker
that took it over reports, nor touch a finished task."""

import uuid
from typing import Any

SET_PROGRESS = """
    UPDATE tasks SET progress = jsonb_build_object(
        'fraction', $3::float8, 'message', $4::text, 'updated_at', now(), 'attempt', $2::int
    )
    WHERE id = $1 AND attempts = $2 AND status = 'running'
    RETURNING id
"""


async def set_progress(
    *,
    connection: Any,
    task_id: uuid.UUID,
    attempt: int,
    fraction: float,
    message: str | None,
) -> bool:
    """Record the progress of the attempt (on an asyncpg connection); False if the attempt
    no longer runs the task (it ended, or another worker took the task over)."""
    row = await connection.fetchval(SET_PROGRESS, task_id, attempt, fraction, message)
    return row is not None
