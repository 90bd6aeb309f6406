"""What a live stream of one task reads, often: the few columns whose change is an event
(never its payload or result, which may be large), by primary key."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TASK_STATE = """
    SELECT status, attempts, progress, cancel_requested_at FROM tasks WHERE id = $1
"""


@dataclass(frozen=True)
class TaskState:
    """Where a task is: its status, its attempts, its progress and its cancel request."""

    status: str
    attempts: int
    progress: dict[str, Any] | None
    cancel_requested_at: datetime | None


async def task_state(*, connection: Any, task_id: uuid.UUID) -> TaskState | None:
    """The task's state now (on an asyncpg connection); None if there is no such task."""
    row = await connection.fetchrow(TASK_STATE, task_id)
    if row is None:
        return None
    return TaskState(
        status=row["status"],
        attempts=row["attempts"],
        progress=row["progress"],
        cancel_requested_at=row["cancel_requested_at"],
    )
