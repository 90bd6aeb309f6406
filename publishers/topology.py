"""Exchanges and queues, as FastStream objects built from the settings.

Each named task queue is three RabbitMQ quorum queues, one per priority band:
`<RMQ_QUEUE_NAME>.<queue>.<band>`, bound to the work exchange under
`<RMQ_QUEUE_ROUTING_KEY>.<queue>.<band>`.
"""

import enum
import functools
import math
import uuid
from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from config import names
from config.settings import Settings


class Band(enum.StrEnum):
    """A priority band: one RabbitMQ queue per named queue and band."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


def band_of(priority: int) -> Band:
    """The band a task of this priority (0-9) travels in."""
    if priority >= names.HIGH_PRIORITY_FROM:
        return Band.HIGH
    if priority >= names.NORMAL_PRIORITY_FROM:
        return Band.NORMAL
    return Band.LOW


def band_queue_name(base: str, queue: str, band: Band) -> str:
    """`<RMQ_QUEUE_NAME>.<queue>.<band>`, with `base` as RMQ_QUEUE_NAME."""
    return f"{base}.{queue}.{band}"


def delay_routing_key(level: int) -> str:
    return f"{2**level}s"


def delay_level(seconds: float) -> int:
    """The delay queue for a wait of `seconds`: the smallest power of two that holds it."""
    level = max(0, math.ceil(math.log2(max(seconds, 1.0))))
    return min(level, names.MAX_DELAY_LEVEL)


@dataclass(frozen=True)
class Topology:
    """Every exchange and queue of one Taskgate installation (the RMQ_* settings)."""

    exchange: str = names.DEFAULT_EXCHANGE
    routing_key: str = names.DEFAULT_ROUTING_KEY
    queue_base: str = names.DEFAULT_QUEUE
    dead_letter_exchange_name: str = names.DEFAULT_DEAD_LETTER_EXCHANGE
    dead_letter_routing_key: str = names.DEFAULT_DEAD_LETTER_ROUTING_KEY
    dead_letter_queue_name: str = names.DEFAULT_DEAD_LETTER_QUEUE

    @classmethod
    def from_settings(cls, settings: Settings) -> "Topology":
        return cls(
            exchange=settings.rmq_queue_exchange,
            routing_key=settings.rmq_queue_routing_key,
            queue_base=settings.rmq_queue_name,
            dead_letter_exchange_name=settings.rmq_queue_dead_letter_exchange,
            dead_letter_routing_key=settings.rmq_queue_routing_key_dead_letter,
            dead_letter_queue_name=settings.rmq_queue_dead_letter_name,
        )

    @functools.cached_property
    def work_exchange(self) -> RabbitExchange:
        return RabbitExchange(self.exchange, type=ExchangeType.DIRECT, durable=True)

    @functools.cached_property
    def dead_letter_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            self.dead_letter_exchange_name, type=ExchangeType.DIRECT, durable=True
        )

    @functools.cached_property
    def delay_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            self.exchange + names.DELAY_EXCHANGE_SUFFIX, type=ExchangeType.DIRECT, durable=True
        )

    @functools.cached_property
    def cancel_exchange(self) -> RabbitExchange:
        """Signals, not work: a lost one is made up for by the lease renewal."""
        return RabbitExchange(
            self.exchange + names.CANCEL_EXCHANGE_SUFFIX, type=ExchangeType.FANOUT, durable=True
        )

    def work_routing_key(self, queue: str, band: Band) -> str:
        return f"{self.routing_key}.{queue}.{band}"

    def band_queue(self, queue: str, band: Band) -> RabbitQueue:
        """The RabbitMQ queue of one band of a named task queue.

        Quorum: replicated across a cluster and survives a node loss. A message rejected by a
        worker is routed by RabbitMQ to the dead-letter exchange, and so is one redelivered
        more than the delivery limit (a message that kills every worker that takes it).
        """
        return RabbitQueue(
            band_queue_name(self.queue_base, queue, band),
            queue_type=QueueType.QUORUM,
            routing_key=self.work_routing_key(queue, band),
            arguments={
                "x-dead-letter-exchange": self.dead_letter_exchange_name,
                "x-dead-letter-routing-key": self.dead_letter_routing_key,
                "x-delivery-limit": names.DELIVERY_LIMIT,
            },
        )

    def band_queues(self, queues: list[str]) -> list[RabbitQueue]:
        """Every band of each named queue, high band first."""
        return [self.band_queue(queue, band) for queue in queues for band in Band]

    @functools.cached_property
    def dead_letter_queue(self) -> RabbitQueue:
        return RabbitQueue(
            self.dead_letter_queue_name,
            queue_type=QueueType.QUORUM,
            routing_key=self.dead_letter_routing_key,
        )

    def cancel_queue(self) -> RabbitQueue:
        """A worker process's own cancel-signal queue: exclusive, gone with its connection,
        under a name no other process has."""
        return RabbitQueue(
            f"{self.exchange}{names.CANCEL_EXCHANGE_SUFFIX}.{uuid.uuid4().hex[:12]}",
            queue_type=QueueType.CLASSIC,
            durable=False,
            exclusive=True,
            auto_delete=True,
        )

    @functools.cached_property
    def delay_queues(self) -> list[RabbitQueue]:
        """One per delay level. Nobody consumes these: messages wait out their TTL, then
        RabbitMQ dead-letters them to the work exchange with their original routing keys,
        the CC header among them (no x-dead-letter-routing-key: one delay queue serves every
        work queue).

        Quorum, like the work queues: pending retries and delays survive the loss of a node.
        At-least-once dead-lettering keeps an expired message until its work queue has it
        (RabbitMQ requires reject-publish overflow for that)."""
        return [
            RabbitQueue(
                f"{self.queue_base}{names.DELAY_QUEUE_SUFFIX}.{delay_routing_key(level)}",
                queue_type=QueueType.QUORUM,
                durable=True,
                routing_key=delay_routing_key(level),
                arguments={
                    "x-dead-letter-exchange": self.exchange,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            for level in range(names.MAX_DELAY_LEVEL + 1)
        ]

    def bindings(self, queues: list[str]) -> list[tuple[RabbitExchange, RabbitQueue]]:
        """Every durable (exchange, queue) pair for these named task queues."""
        return [
            *((self.work_exchange, queue) for queue in self.band_queues(queues)),
            (self.dead_letter_exchange, self.dead_letter_queue),
            *((self.delay_exchange, queue) for queue in self.delay_queues),
        ]
