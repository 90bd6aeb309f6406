"""The one broker object shared by the API (publishes) and the workers (consume)."""

import logging

from faststream.rabbit import Channel, RabbitBroker

from app.settings import get_settings

_settings = get_settings()

broker = RabbitBroker(
    _settings.amqp_url,
    # Prefetch bounds how many tasks one worker process runs at once; the broker's default
    # is unlimited. Unroutable publishes raise instead of vanishing.
    default_channel=Channel(prefetch_count=_settings.worker_prefetch, on_return_raises=True),
    # On shutdown, in-flight tasks get this long to finish before they are handed back.
    graceful_timeout=_settings.worker_grace_seconds,
    # "Received"/"Processed" for every message: visible with `--log-level debug`; at INFO
    # they cost more CPU than a short task itself.
    log_level=logging.DEBUG,
    description="Taskgate's task transport",
)
