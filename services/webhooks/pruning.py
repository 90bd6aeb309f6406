"""Finished deliveries (delivered, or given up) are deleted as long after their event as
succeeded tasks are (RETENTION_SUCCEEDED_SECONDS; 0: kept forever): each keeps a copy of its
task. Every API process and worker runs the pruning; `SKIP LOCKED` shares the rows out."""

import logging
from datetime import timedelta

from config.settings import Settings
from db import webhooks
from db.session import Database
from services.background import PeriodicJob

logger = logging.getLogger(__name__)


class DeliveryPruning(PeriodicJob):
    """Deletes up to RETENTION_BATCH_SIZE finished deliveries every
    RETENTION_INTERVAL_SECONDS, and at once again while it finds a full batch."""

    name = "webhook-delivery-pruning"

    def __init__(self, *, database: Database, settings: Settings) -> None:
        super().__init__()
        self.database = database
        self.interval = settings.retention_interval_seconds
        self.kept_for = timedelta(seconds=settings.retention_succeeded_seconds)
        self.batch_size = settings.retention_batch_size

    async def run_forever(self) -> None:
        if self.kept_for:
            await super().run_forever()

    async def run_once(self) -> bool:
        async with self.database.session() as session:
            deleted = await webhooks.delete_finished(
                session=session, older_than=self.kept_for, limit=self.batch_size
            )
            await session.commit()
        if deleted:
            logger.info("deleted %d finished webhook delivery(ies)", deleted)
        return deleted >= self.batch_size
