"""What a handler may ask for beside its payload."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


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
    sessions: async_sessionmaker[AsyncSession]

    def own_session(self) -> AsyncSession:
        """A session of the handler's own, committed (or not) apart from the task's outcome:
        for writes that must stay even if the attempt fails."""
        return self.sessions()
