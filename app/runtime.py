"""Everything one API process runs with, built and started by its lifespan (app/main.py)
and reached by the routes through `app/api/deps.py`."""

import functools
import logging

from faststream.specification.base import Specification

from app.broker_connection import BrokerConnector, connect_and_declare
from app.waiting import TaskWaiter, listener_connection
from config.settings import Settings
from db.session import Database
from publishers.broker import build_broker
from publishers.publishing import Publishers
from publishers.topology import Topology
from services.handlers.loader import load_handlers
from services.named_queues import known_queues
from services.outbox import Outbox
from services.relay import OutboxRelay
from services.retention import RetentionSweep
from services.submission import Submitter
from subscribers.specification import worker_asyncapi

logger = logging.getLogger(__name__)


class ApiRuntime:
    """The API process's database, broker and publishers, the submitter and the outbox,
    the long-poll listener and the background jobs. Building it touches nothing on the
    network; `start` does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        load_handlers(settings.handler_modules)
        self.queues = known_queues(settings)
        self.database = Database(settings)
        self.broker = build_broker(settings)
        self.publishers = Publishers(
            self.broker,
            Topology.from_settings(settings),
            publish_timeout=settings.publish_timeout_seconds,
        )
        self.outbox = Outbox(
            database=self.database,
            publishers=self.publishers,
            grace_seconds=settings.outbox_grace_seconds,
        )
        self.submitter = Submitter(database=self.database, outbox=self.outbox, settings=settings)
        # Long polls (`?wait=`) hear of finished tasks through its one LISTEN connection.
        self.waiter = TaskWaiter(functools.partial(listener_connection, settings))
        self.relay = OutboxRelay(
            database=self.database, publishers=self.publishers, settings=settings
        )
        self.sweep = RetentionSweep(database=self.database, settings=settings)
        self.connector = BrokerConnector(self.publishers, self.queues)
        self._asyncapi: Specification | None = None

    async def start(self) -> None:
        """Connect the broker (not started: this process publishes, only workers consume)
        and start the background jobs. RabbitMQ being down does not keep the API from
        starting: tasks wait in the outbox meanwhile."""
        try:
            await connect_and_declare(self.publishers, self.queues)
        except Exception as error:
            logger.warning("RabbitMQ not reachable at start (%s); accepting into the outbox", error)
            self.connector.start()
        self.relay.start()
        self.sweep.start()
        self.waiter.start()

    async def stop(self) -> None:
        await self.waiter.stop()
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
