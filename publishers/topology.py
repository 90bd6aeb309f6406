"""Exchanges and queues, declared through FastStream objects.

Each named task queue is three RabbitMQ quorum queues, one per priority band:
`<RMQ_QUEUE_NAME>.<queue>.<band>`, bound to the work exchange under
`<RMQ_QUEUE_ROUTING_KEY>.<queue>.<band>`.
"""

import enum
import functools
import math
import uuid

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from app.settings import get_settings
from publishers import constants

_settings = get_settings()


class Band(enum.StrEnum):
    """A priority band: one RabbitMQ queue per named queue and band."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


def band_of(priority: int) -> Band:
    """The band a task of this priority (0-9) travels in."""
    if priority >= constants.HIGH_PRIORITY_FROM:
        return Band.HIGH
    if priority >= constants.NORMAL_PRIORITY_FROM:
        return Band.NORMAL
    return Band.LOW


work_exchange = RabbitExchange(_settings.rmq_queue_exchange, type=ExchangeType.DIRECT, durable=True)
dead_letter_exchange = RabbitExchange(
    _settings.rmq_queue_dead_letter_exchange, type=ExchangeType.DIRECT, durable=True
)
delay_exchange = RabbitExchange(
    _settings.rmq_queue_exchange + constants.DELAY_EXCHANGE_SUFFIX,
    type=ExchangeType.DIRECT,
    durable=True,
)
# Signals, not work: a lost one is made up for by the lease renewal (see app/services/leases).
cancel_exchange = RabbitExchange(
    _settings.rmq_queue_exchange + constants.CANCEL_EXCHANGE_SUFFIX,
    type=ExchangeType.FANOUT,
    durable=True,
)


def work_routing_key(queue: str, band: Band) -> str:
    return f"{_settings.rmq_queue_routing_key}.{queue}.{band}"


def work_queue_name(base: str, queue: str, band: Band) -> str:
    """`<RMQ_QUEUE_NAME>.<queue>.<band>`, with `base` as RMQ_QUEUE_NAME."""
    return f"{base}.{queue}.{band}"


@functools.cache
def work_queue(queue: str, band: Band) -> RabbitQueue:
    """The RabbitMQ queue of one band of a named task queue.

    Quorum: replicated across a cluster and survives a node loss. A message rejected by a
    worker is routed by RabbitMQ to the dead-letter exchange, and so is one redelivered more
    than the delivery limit (a message that kills every worker that takes it).
    """
    return RabbitQueue(
        work_queue_name(_settings.rmq_queue_name, queue, band),
        queue_type=QueueType.QUORUM,
        routing_key=work_routing_key(queue, band),
        arguments={
            "x-dead-letter-exchange": _settings.rmq_queue_dead_letter_exchange,
            "x-dead-letter-routing-key": _settings.rmq_queue_routing_key_dead_letter,
            "x-delivery-limit": constants.DELIVERY_LIMIT,
        },
    )


def work_queues(queues: list[str]) -> list[RabbitQueue]:
    """Every band of each named queue, high band first."""
    return [work_queue(queue, band) for queue in queues for band in Band]


dead_letter_queue = RabbitQueue(
    _settings.rmq_queue_dead_letter_name,
    queue_type=QueueType.QUORUM,
    routing_key=_settings.rmq_queue_routing_key_dead_letter,
)

# This process's own cancel-signal queue: exclusive, gone with its connection. `faststream
# run --workers N` spawns (re-imports) each process, so each gets its own name.
cancel_queue = RabbitQueue(
    f"{_settings.rmq_queue_exchange}{constants.CANCEL_EXCHANGE_SUFFIX}.{uuid.uuid4().hex[:12]}",
    queue_type=QueueType.CLASSIC,
    durable=False,
    exclusive=True,
    auto_delete=True,
)


def delay_routing_key(level: int) -> str:
    return f"{2**level}s"


def delay_level(seconds: float) -> int:
    """The delay queue for a wait of `seconds`: the smallest power of two that holds it."""
    level = max(0, math.ceil(math.log2(max(seconds, 1.0))))
    return min(level, constants.MAX_DELAY_LEVEL)


# Nobody consumes these: messages wait out their TTL, then RabbitMQ dead-letters them to the
# work exchange with their original routing keys, the CC header among them (no
# x-dead-letter-routing-key: one delay queue serves every work queue). Classic (durable,
# lightweight) rather than quorum: a delayed message is only a reminder; the task row says
# when it is due, and the relay re-sends one that went missing.
delay_queues = [
    RabbitQueue(
        f"{_settings.rmq_queue_name}{constants.DELAY_QUEUE_SUFFIX}.{delay_routing_key(level)}",
        queue_type=QueueType.CLASSIC,
        durable=True,
        routing_key=delay_routing_key(level),
        arguments={"x-dead-letter-exchange": _settings.rmq_queue_exchange},
    )
    for level in range(constants.MAX_DELAY_LEVEL + 1)
]


def bindings(queues: list[str]) -> list[tuple[RabbitExchange, RabbitQueue]]:
    """Every durable (exchange, queue) pair for these named task queues."""
    return [
        *((work_exchange, queue) for queue in work_queues(queues)),
        (dead_letter_exchange, dead_letter_queue),
        *((delay_exchange, queue) for queue in delay_queues),
    ]
