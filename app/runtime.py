"""Everything one API process runs with, built and started by its lifespan (app/main.py)
and reached by the routes through `app/api/deps.py`."""

import functools
import logging
from collections.abc import Iterator

from faststream.specification.base import Specification
from prometheus_client import REGISTRY
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from app.auth import Authenticator
from app.broker_connection import BrokerConnector, connect_and_declare
from app.task_events import TaskStreams
from app.waiting import TaskWaiter, listener_connection
from config.names import KEY_CHANGED_CHANNEL
from config.settings import Settings
from db.session import Database
from publishers.broker import build_broker
from publishers.publishing import Publishers, TopologyConflictError
from services.handlers.loader import load_handlers
from services.named_queues import known_queues
from services.observability.broker_middlewares import broker_middlewares
from services.observability.state_gauges import StateGauges
from services.observability.tracing import Tracing
from services.outbox import Outbox
from services.payloads import PayloadLimits
from services.rate_limits import RateLimiter
from services.relay import OutboxRelay
from services.retention import RetentionSweep
from services.scheduler import Scheduler
from services.submission import Submitter
from services.webhooks.pruning import DeliveryPruning
from services.webhooks.sender import WebhookSender
from subscribers.specification import worker_asyncapi

logger = logging.getLogger(__name__)

# The service name of the API's spans, unless OTEL_SERVICE_NAME says otherwise.
SERVICE_NAME = "taskgate-api"


class ApiRuntime:
    """The API process's database, broker and publishers, the submitter and the outbox,
    the long-poll listener and the background jobs. Building it touches nothing on the
    network; `start` does."""

    def __init__(self, settings: Settings, *, tracing: Tracing | None = None) -> None:
        self.settings = settings
        self.tracing = tracing or Tracing(service_name=SERVICE_NAME)
        load_handlers(settings.handler_modules)
        self.queues = known_queues(settings)
        self.database = Database(settings)
        self.broker = build_broker(settings, middlewares=broker_middlewares(self.tracing))
        self.publishers = Publishers.from_settings(self.broker, settings)
        self.outbox = Outbox(
            database=self.database,
            publishers=self.publishers,
            grace_seconds=settings.outbox_grace_seconds,
        )
        self.submitter = Submitter(database=self.database, outbox=self.outbox, settings=settings)
        self.payload_limits = PayloadLimits.from_settings(settings)
        # Long polls (`?wait=`) hear of finished tasks through its one LISTEN connection,
        # and the key cache of revoked keys. Its address is checked now, not in its retry
        # loop: behind PgBouncer it must be PostgreSQL's own (ConfigurationError).
        _ = settings.direct_database_address
        self.waiter = TaskWaiter(functools.partial(listener_connection, settings))
        self.authenticator = Authenticator(
            settings=settings,
            database=self.database,
            limiter=RateLimiter(
                database=self.database,
                rate=settings.rate_limit_per_second,
                burst=settings.rate_limit_burst,
            ),
            hearing=lambda: self.waiter.listening,
        )
        self.waiter.subscribe(KEY_CHANGED_CHANNEL, self.authenticator.cache)
        # Live event streams of tasks: polled, woken by the same listener when a task ends.
        self.task_streams = TaskStreams(
            database=self.database, waiter=self.waiter, settings=settings
        )
        self.relay = OutboxRelay(
            database=self.database, publishers=self.publishers, settings=settings
        )
        self.sweep = RetentionSweep(database=self.database, settings=settings)
        self.webhooks = WebhookSender(database=self.database, settings=settings)
        self.webhook_pruning = DeliveryPruning(database=self.database, settings=settings)
        self.scheduler = Scheduler(
            database=self.database, submitter=self.submitter, settings=settings
        )
        self.connector = BrokerConnector(self.publishers, self.queues)
        self.state_gauges = StateGauges(
            database=self.database, publishers=self.publishers, queues=self.queues
        )
        # What GET /metrics shows: the process's registry, and the gauges read at scrape time.
        self.exposed_metrics = _Together(REGISTRY, self.state_gauges)
        self._asyncapi: Specification | None = None

    async def start(self) -> None:
        """Connect the broker (not started: this process publishes, only workers consume)
        and start the background jobs. RabbitMQ being down does not keep the API from
        starting: tasks wait in the outbox meanwhile."""
        self.tracing.start()
        if not self.settings.auth_enabled:
            logger.warning(
                "AUTH IS OFF (AUTH_ENABLED=false): anyone who reaches this API may read, "
                "submit, cancel and purge every task; for local development only"
            )
        try:
            await connect_and_declare(self.publishers, self.queues)
        except TopologyConflictError as error:
            # Retrying cannot help: someone must migrate the queue. Stop the API.
            logger.error("%s", error)
            await self.broker.stop()
            raise
        except Exception as error:
            logger.warning("RabbitMQ not reachable at start (%s); accepting into the outbox", error)
            self.connector.start()
        self.relay.start()
        self.sweep.start()
        self.webhooks.start()
        self.webhook_pruning.start()
        self.scheduler.start()
        self.waiter.start()

    async def stop(self) -> None:
        await self.waiter.stop()
        await self.scheduler.stop()
        await self.webhook_pruning.stop()
        await self.webhooks.stop()
        await self.sweep.stop()
        await self.relay.stop()
        await self.connector.stop()
        await self.broker.stop()
        await self.database.dispose()

    def asyncapi(self) -> Specification:
        """The AsyncAPI document of the workers, generated from their subscribers on first
        use."""
        if self._asyncapi is None:
            self._asyncapi = worker_asyncapi(self.settings, self.queues)
        return self._asyncapi


class _Together(Collector):
    """The metrics of several collectors, as one; families without a sample are left out
    (the worker's, whose modules the API imports for the AsyncAPI document)."""

    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from (metric for metric in collector.collect() if metric.samples)
