"""Connecting the API to RabbitMQ without making the API wait for it.

Once connected, the broker's robust connection rides out restarts by itself; only the first
connection needs help. An API started while RabbitMQ is down still accepts tasks (they wait
in the outbox) and connects as soon as RabbitMQ answers.
"""

import asyncio
import logging
import os
import signal

from publishers.publishing import Publishers, TopologyConflictError
from services.background import BackgroundLoop

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


async def connect_and_declare(publishers: Publishers, queues: list[str]) -> None:
    """Connect the broker (without starting subscribers) and declare the topology."""
    await publishers.broker.connect()
    await publishers.declare_topology(queues)


class BrokerConnector(BackgroundLoop):
    """Keeps trying to make the first connection until it succeeds."""

    name = "broker-connector"

    def __init__(self, publishers: Publishers, queues: list[str]) -> None:
        super().__init__()
        self.publishers = publishers
        self.queues = queues

    async def run_forever(self) -> None:
        while True:
            try:
                await connect_and_declare(self.publishers, self.queues)
            except TopologyConflictError as error:
                # Retrying cannot help: someone must migrate the queue. Stop the API.
                logger.error("%s", error)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except Exception as error:
                logger.warning("RabbitMQ not reachable yet (%s); retrying", error)
                await asyncio.sleep(RETRY_SECONDS)
            else:
                logger.info("connected to RabbitMQ")
                return
