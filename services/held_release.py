"""Letting held tasks go: a task a queue control held back (services/queue_controls.py) has
no message in the broker; when the control allows (resumed, a slot or a token free), this
job sends its message again. It runs in every worker process: each queue is released by
one of them at a time (its settings row, locked with SKIP LOCKED), and a message sent once
too often is held again by the claim, which alone decides under the queue's lock."""

import asyncio
import contextlib
import logging

from config.settings import Settings
from db.session import Database
from db.tasks import controls
from publishers.messages import TaskMessage
from publishers.publishing import Publishers
from services.background import BackgroundLoop
from services.outbox import with_origin

logger = logging.getLogger(__name__)


class HeldRelease(BackgroundLoop):
    """Every QUEUE_CONTROLS_INTERVAL_SECONDS, and at once when woken (a task of a queue with
    controls ended), sends the held tasks their queues' controls now allow."""

    name = "held-release"

    def __init__(self, *, database: Database, publishers: Publishers, settings: Settings):
        super().__init__()
        self.database = database
        self.publishers = publishers
        self.interval = settings.queue_controls_interval_seconds
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """A slot may have freed: look again without waiting for the interval."""
        self._woken.set()

    async def run_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._woken.wait()
            self._woken.clear()
            try:
                await self.run_once()
            except Exception as error:
                logger.warning("%s could not run: %s", self.name, error)

    async def run_once(self) -> int:
        """Release what each queue's controls allow now; how many tasks were sent."""
        async with self.database.connection() as connection:
            holding = await controls.queues_holding(connection=connection)
        sent = 0
        for tenant, queue in holding:
            sent += await self._release(tenant, queue)
        if sent:
            logger.info("released %d held task(s)", sent)
        return sent

    async def _release(self, tenant: str, queue: str) -> int:
        async with self.database.transaction() as connection:
            rows = await controls.releasable(connection=connection, tenant=tenant, queue=queue)
            if not rows:
                return 0
            messages = [with_origin(TaskMessage.model_validate(row), row) for row in rows]
            outcomes = await self.publishers.publish_tasks(messages)
            sent = [row["id"] for row, outcome in zip(rows, outcomes, strict=True) if not outcome]
            # Unconfirmed ones stay held: the next run sends them again.
            await controls.unhold(connection=connection, task_ids=sent)
        return len(sent)
