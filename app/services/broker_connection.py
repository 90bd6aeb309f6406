"""Connecting the API to RabbitMQ without making the API wait for it.

Once connected, the broker's robust connection rides out restarts by itself; only the first
connection needs help. An API started while RabbitMQ is down still accepts tasks (they wait
in the outbox) and connects as soon as RabbitMQ answers.
"""

import asyncio
import logging

from app.services.background import BackgroundLoop
from app.services.queues import known_queues
from publishers.broker import broker
from publishers.tasks import declare_topology

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


async def connect_and_declare() -> None:
    """Connect the shared broker (without starting subscribers) and declare the topology."""
    await broker.connect()
    await declare_topology(known_queues())


class BrokerConnector(BackgroundLoop):
    """Keeps trying to make the first connection until it succeeds."""

    name = "broker-connector"

    async def run_forever(self) -> None:
        while True:
            try:
                await connect_and_declare()
            except Exception as error:
                logger.warning("RabbitMQ not reachable yet (%s); retrying", error)
                await asyncio.sleep(RETRY_SECONDS)
            else:
                logger.info("connected to RabbitMQ")
                return
