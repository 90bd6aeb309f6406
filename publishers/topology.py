"""Exchanges and queues, declared through FastStream objects."""

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from app.settings import get_settings
from publishers import constants

_settings = get_settings()

work_exchange = RabbitExchange(_settings.rmq_queue_exchange, type=ExchangeType.DIRECT, durable=True)
dead_letter_exchange = RabbitExchange(
    _settings.rmq_queue_dead_letter_exchange, type=ExchangeType.DIRECT, durable=True
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

BINDINGS = ((work_exchange, work_queue), (dead_letter_exchange, dead_letter_queue))
