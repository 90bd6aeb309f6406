"""The broker object the API (publishes) and the workers (consume) are built on."""

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

from faststream.rabbit import Channel, RabbitBroker

from config.settings import Settings
from publishers.failover import failover_connection

# FastStream's lines about the broker and its messages, under Taskgate's logging (a logger of
# FastStream's own would print them past it, in its own format).
BROKER_LOGGER = "taskgate.broker"


def build_broker(settings: Settings, *, middlewares: Sequence[Any] = ()) -> RabbitBroker:
    """A broker for these settings, not yet connected; `middlewares` (metrics, traces)
    wrap every consume and publish, outside the subscribers' own."""
    broker = RabbitBroker(
        settings.amqp_url,
        # Prefetch bounds how many messages one worker consumer holds; the broker's default
        # is unlimited. Unroutable publishes raise instead of vanishing.
        default_channel=Channel(prefetch_count=settings.worker_prefetch, on_return_raises=True),
        # On shutdown, in-flight tasks get this long to finish before they are handed back.
        graceful_timeout=settings.worker_grace_seconds,
        middlewares=tuple(middlewares),
        logger=logging.getLogger(BROKER_LOGGER),
        # "Received"/"Processed" for every message: visible with `--log-level debug`; at
        # INFO they cost more CPU than a short task itself.
        log_level=logging.DEBUG,
        description="Taskgate's task transport",
    )
    # Every node of RMQ_HOSTS (or the one of RMQ_HOST): FastStream hands these keywords to
    # aio-pika's connect_robust as they are, and offers no argument of its own for them.
    broker._connection_kwargs["connection_class"] = failover_connection(settings.rmq_addresses)
    # Shown by RabbitMQ beside each connection: which process of which host holds it.
    broker._connection_kwargs["client_properties"] = {
        "connection_name": f"taskgate {socket.gethostname()} pid {os.getpid()}"
    }
    return broker
