"""Publishers: declared once as objects, so they appear in the AsyncAPI schema."""

import asyncio
from datetime import timedelta
from typing import Any

from aio_pika.abc import FieldValue

from app.settings import get_settings
from publishers import constants
from publishers.broker import broker
from publishers.messages import TaskMessage
from publishers.topology import (
    BINDINGS,
    dead_letter_exchange,
    dead_letter_queue,
    delay_exchange,
    delay_level,
    delay_routing_key,
    work_exchange,
    work_queue,
)

task_publisher = broker.publisher(
    exchange=work_exchange,
    routing_key=work_queue.routing(),
    persist=True,
    mandatory=True,
    schema=TaskMessage,
    title="submit-task",
    description="A task accepted by the API, for a worker to run.",
)

delayed_task_publisher = broker.publisher(
    exchange=delay_exchange,
    persist=True,
    mandatory=True,
    schema=TaskMessage,
    title="retry-later",
    description=(
        "A task to run again after a delay (retry backoff, or a task another worker holds): "
        "it waits in a delay queue until its TTL ends, then returns to the work queue."
    ),
)

dead_letter_publisher = broker.publisher(
    exchange=dead_letter_exchange,
    routing_key=dead_letter_queue.routing(),
    persist=True,
    mandatory=True,
    title="dead-letter",
    description=(
        "A task that failed for good, or a message no worker could read, with the reason "
        f"in the `{constants.HEADER_DEAD_REASON}` header."
    ),
)


async def publish_task(message: TaskMessage) -> None:
    """Publish a task for the workers; returns once the broker confirmed it, raises
    TimeoutError when it does not confirm in PUBLISH_TIMEOUT_SECONDS."""
    async with asyncio.timeout(get_settings().publish_timeout_seconds):
        await task_publisher.publish(message)


async def publish_task_later(message: TaskMessage, *, delay_seconds: float) -> None:
    """Publish a task to come back to the work queue after `delay_seconds`."""
    await delayed_task_publisher.publish(
        message,
        routing_key=delay_routing_key(delay_level(delay_seconds)),
        expiration=timedelta(seconds=max(delay_seconds, 0.001)),
    )


async def publish_dead_letter(
    body: Any, *, reason: str, task_id: str | None, recorded: bool = False
) -> None:
    """Send a message to the dead-letter queue with the reason it could not be run;
    `recorded`: the task is already marked dead in the task table."""
    headers: dict[str, FieldValue] = {constants.HEADER_DEAD_REASON: reason[:2000]}
    if task_id is not None:
        headers[constants.HEADER_TASK_ID] = task_id
    if recorded:
        headers[constants.HEADER_DEATH_RECORDED] = True
    await dead_letter_publisher.publish(body, headers=headers)


async def declare_topology() -> None:
    """Declare the exchanges and queues and their bindings (the API publishes before any
    worker may have started)."""
    for exchange, queue in BINDINGS:
        declared_exchange = await broker.declare_exchange(exchange)
        declared_queue = await broker.declare_queue(queue)
        await declared_queue.bind(declared_exchange, routing_key=queue.routing())
