"""Direct access to the real RabbitMQ, for setup and for what the API cannot show."""

import contextlib
from collections.abc import Iterator
from typing import Any

import aio_pika
from aio_pika.exceptions import ChannelClosed

from config import names
from publishers.signing import MessageSigner
from publishers.topology import Band, Topology, band_queue_name, delay_routing_key
from tests.support.settings import SETTINGS

# The tests' exchanges and queues, and their signer.
TOPOLOGY = Topology.from_settings(SETTINGS)
SIGNER = MessageSigner(SETTINGS.message_secret)
# Where a task of the default queue and priority is published.
DEFAULT_ROUTE = TOPOLOGY.work_routing_key("default", Band.NORMAL)


# Where these probes connect: the machine's node, or a cluster a test started.
_broker_url = SETTINGS.amqp_url


@contextlib.contextmanager
def probing(url: str) -> Iterator[None]:
    """Within the block, every probe here asks the RabbitMQ at `url`."""
    global _broker_url
    previous, _broker_url = _broker_url, url
    try:
        yield
    finally:
        _broker_url = previous


async def _connect() -> aio_pika.abc.AbstractConnection:
    return await aio_pika.connect(_broker_url)


async def _counts(queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of `queue` now; (0, 0) if it does not exist."""
    connection = await _connect()
    async with connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except ChannelClosed:
            return 0, 0
        result = declared.declaration_result
        return int(result.message_count or 0), int(result.consumer_count or 0)


async def consumer_count(queue: str) -> int:
    """Consumers attached to `queue` now (0 if it does not exist)."""
    return (await _counts(queue))[1]


async def message_count(queue: str) -> int:
    """Messages ready in `queue` now (0 if it does not exist)."""
    return (await _counts(queue))[0]


def band_queue(queue: str, band: Band = Band.NORMAL, *, base: str | None = None) -> str:
    """The RabbitMQ queue of one band of a named queue (of this process's settings, or of
    a Taskgate whose RMQ_QUEUE_NAME is `base`)."""
    return band_queue_name(base or SETTINGS.rmq_queue_name, queue, band)


def topology_queues(
    queues: list[str], *, base: str | None = None, dead_letter: str | None = None
) -> list[str]:
    """Every durable queue a Taskgate with these named queues declares."""
    base = base or SETTINGS.rmq_queue_name
    delays = [
        f"{base}{names.DELAY_QUEUE_SUFFIX}.{delay_routing_key(level)}"
        for level in range(names.MAX_DELAY_LEVEL + 1)
    ]
    bands = [band_queue(queue, band, base=base) for queue in queues for band in Band]
    return [*bands, dead_letter or SETTINGS.rmq_queue_dead_letter_name, *delays]


async def purge_queues(*names: str) -> None:
    """Drop every message waiting in these queues."""
    connection = await _connect()
    async with connection:
        channel = await connection.channel()
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            await queue.purge()


async def delete_queues(*names: str) -> None:
    """Delete queues so a test run starts from, and leaves, an empty broker state."""
    connection = await _connect()
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


async def publish_raw(
    exchange: str,
    routing_key: str,
    body: bytes,
    content_type: str,
    headers: dict[str, Any] | None = None,
    *,
    signed: bool = True,
) -> None:
    """Publish bytes as they are, bypassing Taskgate's publishers: signed with the tests'
    secret (a message Taskgate could have sent, such as one a newer version wrote) unless
    `signed` is False (a forgery)."""
    headers = dict(headers or {})
    if signed:
        headers = SIGNER.signed_headers(body, headers)
    connection = await _connect()
    async with connection:
        # Unroutable is an error: a test publishing to the wrong key must not pass vacuously.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        target = await channel.get_exchange(exchange, ensure=True)
        await target.publish(
            aio_pika.Message(body, content_type=content_type, delivery_mode=2, headers=headers),
            routing_key=routing_key,
        )


async def take_messages(
    queue: str, *, limit: int = 100
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take (and ack) the messages waiting in `queue`, up to `limit`."""
    connection = await _connect()
    taken = []
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        while len(taken) < limit and (message := await declared.get(fail=False)) is not None:
            await message.ack()
            taken.append(message)
    return taken
