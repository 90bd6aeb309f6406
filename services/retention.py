"""The retention sweep: finished tasks are deleted once they are older than their retention.

Succeeded and cancelled tasks are kept RETENTION_SUCCEEDED_SECONDS after they finished, dead
ones RETENTION_DEAD_SECONDS (0: forever). Every API process and worker runs the sweep;
`FOR UPDATE SKIP LOCKED` shares the rows out, so sweeps running at once never wait for each
other nor delete a row twice.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from db.models import TaskStatus
from db.session import Database
from db.tasks.upkeep import delete_expired
from services.background import PeriodicJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished tasks are kept, by kind; None: forever."""

    succeeded: timedelta | None
    dead: timedelta | None

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetentionPolicy":
        return cls(
            succeeded=_seconds(settings.retention_succeeded_seconds),
            dead=_seconds(settings.retention_dead_seconds),
        )

    def rules(self) -> Sequence[tuple[TaskStatus, timedelta]]:
        """(status, kept for) for each status whose tasks are not kept forever."""
        rules: list[tuple[TaskStatus, timedelta]] = []
        if self.succeeded is not None:
            rules.append((TaskStatus.SUCCEEDED, self.succeeded))
            rules.append((TaskStatus.CANCELLED, self.succeeded))
        if self.dead is not None:
            rules.append((TaskStatus.DEAD, self.dead))
        return rules


def _seconds(seconds: int) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds else None


async def sweep_once(*, session: AsyncSession, policy: RetentionPolicy, batch_size: int) -> int:
    """Delete at most `batch_size` tasks past their retention, oldest first for each status,
    in one transaction; the number deleted."""
    deleted = 0
    for status, kept_for in policy.rules():
        if deleted >= batch_size:
            break
        deleted += await delete_expired(
            session=session, status=status, kept_for=kept_for, limit=batch_size - deleted
        )
    await session.commit()
    return deleted


class RetentionSweep(PeriodicJob):
    """Runs `sweep_once` in the background every RETENTION_INTERVAL_SECONDS, and at once
    again while it finds a full batch."""

    name = "retention-sweep"

    def __init__(self, *, database: Database, settings: Settings) -> None:
        super().__init__()
        self.database = database
        self.policy = RetentionPolicy.from_settings(settings)
        self.interval = settings.retention_interval_seconds
        self.batch_size = settings.retention_batch_size

    async def run_forever(self) -> None:
        if self.policy.rules():
            await super().run_forever()

    async def run_once(self) -> bool:
        async with self.database.session() as session:
            deleted = await sweep_once(
                session=session, policy=self.policy, batch_size=self.batch_size
            )
        if deleted:
            logger.info("retention sweep deleted %d finished task(s)", deleted)
        return deleted >= self.batch_size
