"""Per named queue: what RabbitMQ holds now, and the tasks by status."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TaskStatus
from db.tasks.reads import counts_by_queue_and_status
from publishers.publishing import Publishers, QueueDepth

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class QueueStats:
    name: str
    # None when RabbitMQ did not answer (or the queue is no longer declared).
    bands: list[QueueDepth] | None
    tasks: dict[str, int]


async def queue_stats(
    *, session: AsyncSession, publishers: Publishers, known: Sequence[str], tenant: str | None
) -> list[QueueStats]:
    """Every known queue, and any other queue that still has tasks recorded: what RabbitMQ
    holds (all tenants' messages), and the tasks of `tenant` (None: every tenant) by status."""
    counts = await counts_by_queue_and_status(session=session, tenant=tenant)
    stats = []
    for name in sorted({*known, *counts}):
        tasks = {status.value: counts.get(name, {}).get(status, 0) for status in TaskStatus}
        bands = await broker_view(publishers, name) if name in known else None
        stats.append(QueueStats(name=name, bands=bands, tasks=tasks))
    return stats


async def broker_view(publishers: Publishers, name: str) -> list[QueueDepth] | None:
    """What RabbitMQ holds of each band of the queue now; None if it does not answer."""
    try:
        async with asyncio.timeout(BROKER_TIMEOUT_SECONDS):
            return await publishers.queue_depths(name)
    except Exception as error:
        logger.warning("no queue depths from RabbitMQ for %s: %s", name, error)
        return None
