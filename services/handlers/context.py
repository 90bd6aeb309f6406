"""What a handler may ask for beside its payload."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.handlers.progress import ProgressReport, ProgressReporter


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
    # Where `progress` reports go (None: nowhere, for a context made outside a worker).
    reporter: ProgressReporter | None = None

    def own_session(self) -> AsyncSession:
        """A session of the handler's own, committed (or not) apart from the task's outcome:
        for writes that must stay even if the attempt fails."""
        return self.sessions()

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far the attempt is, from 0 to 1 (ValueError otherwise), with an
        optional message (cut to 200 characters): the task shows it while it runs. Never
        waits on the database; written at most once per PROGRESS_MIN_INTERVAL_SECONDS, the
        latest report winning, the last one before the attempt's outcome."""
        report = ProgressReport.of(fraction, message)
        if self.reporter is not None:
            self.reporter.report(report)
