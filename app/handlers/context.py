"""What a handler may ask for beside its payload."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class TaskContext:
    """The running attempt, and a database session whose writes commit in the same
    transaction as the task's success: if the task does not succeed (it fails, its worker
    dies, another worker took it over), they are rolled back. Writing a handler's effects
    through it gives them exactly-once effect."""

    task_id: uuid.UUID
    attempt: int
    max_attempts: int
    session: AsyncSession
