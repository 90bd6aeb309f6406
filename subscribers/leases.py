"""Leases on running tasks: renewed while this worker runs them, so that only a task whose
worker died is taken over by another."""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from db.session import Database
from db.tasks.attempts import renew_leases
from services.background import BackgroundLoop
from subscribers.cancel_requests import CancelRequests

logger = logging.getLogger(__name__)


class LeaseKeeper(BackgroundLoop):
    """Renews, in one UPDATE every third of the lease, the leases of every attempt this
    process is running, and stops those a client asked to cancel."""

    name = "lease-keeper"

    def __init__(
        self, *, database: Database, lease_seconds: float, cancel_requests: CancelRequests
    ) -> None:
        super().__init__()
        self.database = database
        self.lease = timedelta(seconds=lease_seconds)
        self.cancel_requests = cancel_requests
        self._running: set[tuple[uuid.UUID, int]] = set()

    @contextlib.asynccontextmanager
    async def holding(self, task_id: uuid.UUID, attempt: int) -> AsyncIterator[None]:
        """Keep the attempt's lease alive for the duration of the block."""
        key = (task_id, attempt)
        self._running.add(key)
        try:
            yield
        finally:
            self._running.discard(key)

    async def run_forever(self) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.database.session() as session:
                    to_cancel = await renew_leases(
                        session=session, attempts=list(self._running), lease=self.lease
                    )
                    await session.commit()
            except Exception:
                # A missed renewal is survivable: the lease outlasts two more tries.
                logger.warning("could not renew task leases", exc_info=True)
                continue
            for task_id in to_cancel:
                self.cancel_requests.request(task_id)
