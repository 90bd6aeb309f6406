"""The benchmark's own view of RabbitMQ: consumer counts, and removing its queues."""

import aio_pika
from aio_pika.exceptions import ChannelClosed

from config.settings import get_settings


async def consumer_count(queue: str) -> int:
    """Consumers attached to `queue` now (0 if it does not exist)."""
    async with await aio_pika.connect(get_settings().amqp_url) as connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except ChannelClosed:
            return 0
        return int(declared.declaration_result.consumer_count or 0)


async def delete(*, queues: tuple[str, ...], exchanges: tuple[str, ...] = ()) -> None:
    """Delete queues and exchanges (absent ones are no error)."""
    async with await aio_pika.connect(get_settings().amqp_url) as connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
