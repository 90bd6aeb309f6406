"""The outbox relay: sends a message for every task that is owed one.

The task table is the outbox. A task is owed a message when its scheduled time has come,
when its publish was never confirmed (the broker was down, or the API died after the
commit), when its retry did not come back from the delay queue in time, or when it is
running under a lease that lapsed long ago.
Every API process and worker runs the relay; `FOR UPDATE SKIP LOCKED` shares the rows out,
and a duplicate message is harmless because claims are conditional.
"""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from db.session import Database
from db.tasks import upkeep
from publishers.messages import TaskMessage
from publishers.publishing import Publishers
from services.background import PeriodicJob
from services.observability.metrics import count_relayed

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# A task re-sent by the relay is not re-sent again for this long.
RESEND_AFTER = timedelta(seconds=60)


async def relay_once(*, session: AsyncSession, publishers: Publishers, grace: timedelta) -> int:
    """Publish one batch of owed messages; the number sent."""
    # Committed before any message goes out: a worker must never receive a task's message
    # before the task may be claimed.
    released = await upkeep.release_due(session=session, limit=BATCH_SIZE)
    await session.commit()
    rows = await upkeep.lock_owed(session=session, grace=grace, released=released, limit=BATCH_SIZE)
    if not rows:
        await session.commit()
        return 0
    outcomes = await asyncio.gather(
        *(publishers.publish_task(TaskMessage.model_validate(row)) for row in rows),
        return_exceptions=True,
    )
    # Only the confirmed are marked: were one failure to leave the whole batch unmarked,
    # every message of it that did go out would be sent again on the next run.
    sent = [row for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
    failures = [outcome for outcome in outcomes if outcome is not None]
    if failures:
        logger.warning(
            "relay could not publish %d owed task message(s): %s", len(failures), failures[0]
        )
    if sent:
        await upkeep.mark_relayed(
            session=session, task_ids=[row.id for row in sent], resend_after=RESEND_AFTER
        )
    await session.commit()
    count_relayed(row.queue for row in sent)
    return len(sent)


class OutboxRelay(PeriodicJob):
    """Runs `relay_once` in the background every OUTBOX_INTERVAL_SECONDS."""

    name = "outbox-relay"

    def __init__(self, *, database: Database, publishers: Publishers, settings: Settings):
        super().__init__()
        self.database = database
        self.publishers = publishers
        self.interval = settings.outbox_interval_seconds
        self.grace = timedelta(seconds=settings.outbox_grace_seconds)

    async def run_once(self) -> bool:
        async with self.database.session() as session:
            sent = await relay_once(session=session, publishers=self.publishers, grace=self.grace)
        if sent:
            logger.info("relay sent %d owed task message(s)", sent)
        return sent > 0
