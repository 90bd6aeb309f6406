"""Per named queue: what RabbitMQ holds now, and the tasks by status."""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.queues import known_queues
from db.models import Task, TaskStatus
from publishers.tasks import QueueDepth, queue_depths

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class QueueStats:
    name: str
    # None when RabbitMQ did not answer (or the queue is no longer declared).
    bands: list[QueueDepth] | None
    tasks: dict[str, int]


async def queue_stats(*, session: AsyncSession) -> list[QueueStats]:
    """Every known queue, and any other queue that still has tasks recorded."""
    counts: dict[str, dict[str, int]] = {}
    rows = await session.execute(
        select(Task.queue, Task.status, func.count()).group_by(Task.queue, Task.status)
    )
    for queue, status, count in rows:
        counts.setdefault(queue, {})[status] = count
    known = known_queues()
    stats = []
    for name in sorted({*known, *counts}):
        tasks = {status.value: counts.get(name, {}).get(status, 0) for status in TaskStatus}
        bands = await _broker_view(name) if name in known else None
        stats.append(QueueStats(name=name, bands=bands, tasks=tasks))
    return stats


async def _broker_view(name: str) -> list[QueueDepth] | None:
    try:
        async with asyncio.timeout(BROKER_TIMEOUT_SECONDS):
            return await queue_depths(name)
    except Exception as error:
        logger.warning("no queue depths from RabbitMQ for %s: %s", name, error)
        return None
