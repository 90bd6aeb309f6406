"""The broker object the API (publishes) and the workers (consume) are built on."""

import logging

from faststream.rabbit import Channel, RabbitBroker

from config.settings import Settings


def build_broker(settings: Settings) -> RabbitBroker:
    """A broker for these settings, not yet connected."""
    return RabbitBroker(
        settings.amqp_url,
        # Prefetch bounds how many messages one worker consumer holds; the broker's default
        # is unlimited. Unroutable publishes raise instead of vanishing.
        default_channel=Channel(prefetch_count=settings.worker_prefetch, on_return_raises=True),
        # On shutdown, in-flight tasks get this long to finish before they are handed back.
        graceful_timeout=settings.worker_grace_seconds,
        # "Received"/"Processed" for every message: visible with `--log-level debug`; at
        # INFO they cost more CPU than a short task itself.
        log_level=logging.DEBUG,
        description="Taskgate's task transport",
    )
