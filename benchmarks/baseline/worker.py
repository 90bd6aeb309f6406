"""The baseline's worker: run the task, commit its outcome, then ack.

`python -m benchmarks.baseline.worker`; SIGTERM or SIGINT stops it.
"""

import asyncio
import contextlib
import json
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.baseline.config import config, declare_queue

logger = logging.getLogger(__name__)

# Conditional, like Taskgate's transitions: a redelivered message cannot finish a task twice.
FINISH = """
UPDATE bench_tasks SET status = $2, finished_at = now() WHERE id = $1 AND status = 'queued'
"""


async def noop(payload: dict[str, Any]) -> None:
    """Do nothing and succeed."""


HANDLERS: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {"noop": noop}


def consumer(pool: Any) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    """The message callback: aio-pika runs one per delivered message, up to the prefetch."""

    async def on_message(message: AbstractIncomingMessage) -> None:
        try:
            task = json.loads(message.body)
            task_id, handler = uuid.UUID(task["id"]), HANDLERS[task["name"]]
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable message dropped: %r", message.body[:200])
            await message.reject()
            return
        # An exception here (the database away) hands the message back: requeued, not lost.
        async with message.process(requeue=True):
            try:
                await handler(task["payload"])
                outcome = "succeeded"
            except Exception:
                logger.exception("task %s failed", task_id)
                outcome = "dead"
            await pool.execute(FINISH, task_id, outcome)

    return on_message


async def main() -> None:
    settings = config()
    # Fixed size: connections are opened once, at start.
    pool = await asyncpg.create_pool(
        settings.dsn, min_size=settings.pool_size, max_size=settings.pool_size
    )
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=settings.prefetch)
    queue = await declare_queue(channel, settings.queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tag = await queue.consume(consumer(pool))
    try:
        await stop.wait()
    finally:
        await queue.cancel(tag)
        await connection.close()
        await pool.close()


def run() -> None:
    """Run on uvloop where it is installed, as `faststream run` does."""
    logging.basicConfig(level=logging.WARNING)
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


if __name__ == "__main__":
    run()
