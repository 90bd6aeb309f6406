"""Gauges of what is waiting, read when the API's /metrics is scraped: the outbox's backlog
(PostgreSQL) and each named queue's messages and consumers per band (RabbitMQ).

However often Prometheus (or several of them) scrapes, the sources are read at most once
every `min_interval` seconds, each within `timeout`; a scrape in between serves the last
reading. A source that did not answer says so in `taskgate_metrics_source_up` and its gauges
are left out, rather than shown stale.
"""

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from db.session import Database
from db.tasks.gauges import Backlog, outbox_backlog
from publishers.publishing import Publishers, QueueDepth

logger = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 5.0
TIMEOUT_SECONDS = 2.0


class StateGauges(Collector):
    """A collector of the outbox backlog and the queue depths, refreshed by `refresh`."""

    def __init__(
        self,
        *,
        database: Database,
        publishers: Publishers,
        queues: Sequence[str],
        min_interval: float = MIN_INTERVAL_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._database = database
        self._publishers = publishers
        self._queues = list(queues)
        self._min_interval = min_interval
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._read_at: float | None = None
        self._backlog: Backlog | None = None
        self._depths: dict[str, list[QueueDepth]] | None = None

    async def refresh(self) -> None:
        """Read the sources again, unless they were read less than `min_interval` ago
        (concurrent scrapes share one reading)."""
        async with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self._min_interval:
                return
            self._read_at = now
            self._backlog, self._depths = await asyncio.gather(
                self._read_backlog(), self._read_depths()
            )

    async def _read_backlog(self) -> Backlog | None:
        try:
            async with asyncio.timeout(self._timeout), self._database.connection() as connection:
                return await outbox_backlog(connection=connection)
        except Exception as error:
            logger.warning("metrics: no outbox backlog from PostgreSQL: %s", error)
            return None

    async def _read_depths(self) -> dict[str, list[QueueDepth]] | None:
        try:
            async with asyncio.timeout(self._timeout):
                return {queue: await self._publishers.queue_depths(queue) for queue in self._queues}
        except Exception as error:
            logger.warning("metrics: no queue depths from RabbitMQ: %s", error)
            return None

    def describe(self) -> Iterator[Metric]:
        """The families `collect` may yield (without samples), for a registry to know."""
        for name, (documentation, labels) in FAMILIES.items():
            yield GaugeMetricFamily(name, documentation, labels=labels)

    def collect(self) -> Iterator[Metric]:
        up = _family("taskgate_metrics_source_up")
        up.add_metric(["database"], 0 if self._backlog is None else 1)
        up.add_metric(["broker"], 0 if self._depths is None else 1)
        yield up
        if self._backlog is not None:
            unpublished = _family("taskgate_outbox_unpublished_tasks")
            unpublished.add_metric([], self._backlog.tasks)
            oldest = _family("taskgate_outbox_oldest_unpublished_seconds")
            oldest.add_metric([], self._backlog.oldest_seconds or 0.0)
            yield from (unpublished, oldest)
        if self._depths is not None:
            ready = _family("taskgate_queue_messages_ready")
            consumers = _family("taskgate_queue_consumers")
            for queue, bands in sorted(self._depths.items()):
                for depth in bands:
                    ready.add_metric([queue, str(depth.band)], depth.ready)
                    consumers.add_metric([queue, str(depth.band)], depth.consumers)
            yield from (ready, consumers)


# Each gauge: its help text and label names.
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "taskgate_metrics_source_up": (
        "Whether the last reading of a source of these gauges answered (1) or not (0).",
        ["source"],
    ),
    "taskgate_outbox_unpublished_tasks": (
        "Queued tasks whose publish is not yet recorded as confirmed (a confirmed one is "
        "marked within about a second; the relay sends those left after "
        "OUTBOX_GRACE_SECONDS).",
        [],
    ),
    "taskgate_outbox_oldest_unpublished_seconds": ("Age of the oldest such task (0: none).", []),
    "taskgate_queue_messages_ready": (
        "Messages ready in each band of each named queue (one message may carry up to 100 tasks).",
        ["queue", "band"],
    ),
    "taskgate_queue_consumers": (
        "Consumers of each band of each named queue (one per worker process).",
        ["queue", "band"],
    ),
}


def _family(name: str) -> GaugeMetricFamily:
    documentation, labels = FAMILIES[name]
    return GaugeMetricFamily(name, documentation, labels=labels)
