"""Exchanges and queues, declared through FastStream objects."""

import math

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from app.settings import get_settings
from publishers import constants

_settings = get_settings()

work_exchange = RabbitExchange(_settings.rmq_queue_exchange, type=ExchangeType.DIRECT, durable=True)
dead_letter_exchange = RabbitExchange(
    _settings.rmq_queue_dead_letter_exchange, type=ExchangeType.DIRECT, durable=True
)
delay_exchange = RabbitExchange(
    _settings.rmq_queue_exchange + constants.DELAY_EXCHANGE_SUFFIX,
    type=ExchangeType.DIRECT,
    durable=True,
)

# Quorum: replicated across a cluster and survives a node loss. A message rejected by a
# worker is routed by RabbitMQ to the dead-letter exchange, and so is one redelivered more
# than the delivery limit (a message that kills every worker that takes it).
work_queue = RabbitQueue(
    _settings.rmq_queue_name,
    queue_type=QueueType.QUORUM,
    routing_key=_settings.rmq_queue_routing_key,
    arguments={
        "x-dead-letter-exchange": _settings.rmq_queue_dead_letter_exchange,
        "x-dead-letter-routing-key": _settings.rmq_queue_routing_key_dead_letter,
        "x-delivery-limit": constants.DELIVERY_LIMIT,
    },
)
dead_letter_queue = RabbitQueue(
    _settings.rmq_queue_dead_letter_name,
    queue_type=QueueType.QUORUM,
    routing_key=_settings.rmq_queue_routing_key_dead_letter,
)


def delay_routing_key(level: int) -> str:
    return f"{2**level}s"


def delay_level(seconds: float) -> int:
    """The delay queue for a wait of `seconds`: the smallest power of two that holds it."""
    level = max(0, math.ceil(math.log2(max(seconds, 1.0))))
    return min(level, constants.MAX_DELAY_LEVEL)


# Nobody consumes these: messages wait out their TTL, then RabbitMQ routes them back to the
# work queue. Classic (durable, lightweight) rather than quorum: a delayed message is only a
# reminder; the task row says when it is due, and the relay re-sends one that went missing.
delay_queues = [
    RabbitQueue(
        f"{_settings.rmq_queue_name}{constants.DELAY_QUEUE_SUFFIX}.{delay_routing_key(level)}",
        queue_type=QueueType.CLASSIC,
        durable=True,
        routing_key=delay_routing_key(level),
        arguments={
            "x-dead-letter-exchange": _settings.rmq_queue_exchange,
            "x-dead-letter-routing-key": _settings.rmq_queue_routing_key,
        },
    )
    for level in range(constants.MAX_DELAY_LEVEL + 1)
]

BINDINGS = (
    (work_exchange, work_queue),
    (dead_letter_exchange, dead_letter_queue),
    *((delay_exchange, queue) for queue in delay_queues),
)
