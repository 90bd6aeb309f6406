"""Publishers: declared once as objects, so they appear in the AsyncAPI schema."""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aio_pika.abc import AbstractRobustQueue, FieldValue

from app.settings import get_settings
from publishers import constants
from publishers.broker import broker
from publishers.messages import CancelMessage, TaskBatchMessage, TaskMessage
from publishers.topology import (
    Band,
    band_of,
    bindings,
    cancel_exchange,
    dead_letter_exchange,
    dead_letter_queue,
    delay_exchange,
    delay_level,
    delay_routing_key,
    work_exchange,
    work_queue,
    work_routing_key,
)

task_publisher = broker.publisher(
    exchange=work_exchange,
    persist=True,
    mandatory=True,
    schema=TaskMessage,
    title="submit-task",
    description=(
        "A task accepted by the API, for a worker to run, routed to its named queue's "
        "priority band (high: 7-9, normal: 3-6, low: 0-2)."
    ),
)

task_batch_publisher = broker.publisher(
    exchange=work_exchange,
    persist=True,
    mandatory=True,
    schema=TaskBatchMessage,
    headers={constants.HEADER_TASK_BATCH: True},
    title="submit-tasks",
    description=(
        f"Up to {constants.TASK_BATCH_LIMIT} tasks of one named queue and priority band, "
        "accepted together (concurrent submits, or a batch), as one message marked with "
        f"the `{constants.HEADER_TASK_BATCH}` header."
    ),
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

cancel_publisher = broker.publisher(
    exchange=cancel_exchange,
    # No worker running means nobody to tell: the cancel request is recorded in PostgreSQL.
    mandatory=False,
    schema=CancelMessage,
    title="cancel-task",
    description="Tells every worker process to stop a running task, if it runs it.",
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
    await _confirmed_in_time(task_publisher.publish(message, routing_key=_route(message)))


async def publish_tasks(messages: Sequence[TaskMessage]) -> list[BaseException | None]:
    """Publish tasks for the workers, those of one queue and band together in messages of
    up to TASK_BATCH_LIMIT; for each task, None once confirmed, else the error."""
    by_route: defaultdict[str, list[int]] = defaultdict(list)
    for index, message in enumerate(messages):
        by_route[_route(message)].append(index)
    limit = constants.TASK_BATCH_LIMIT
    chunks = [
        (route, indexes[start : start + limit])
        for route, indexes in by_route.items()
        for start in range(0, len(indexes), limit)
    ]
    outcomes = await asyncio.gather(
        *(
            _publish_chunk([messages[index] for index in indexes], route)
            for route, indexes in chunks
        ),
        return_exceptions=True,
    )
    results: list[BaseException | None] = [None] * len(messages)
    for (_, indexes), outcome in zip(chunks, outcomes, strict=True):
        for index in indexes:
            results[index] = outcome
    return results


async def _publish_chunk(messages: list[TaskMessage], route: str) -> None:
    if len(messages) == 1:
        await _confirmed_in_time(task_publisher.publish(messages[0], routing_key=route))
    else:
        batch = TaskBatchMessage(tasks=messages)
        await _confirmed_in_time(task_batch_publisher.publish(batch, routing_key=route))


async def _confirmed_in_time(publishing: Awaitable[Any]) -> None:
    """Wait for the broker's confirm at most PUBLISH_TIMEOUT_SECONDS, then raise
    TimeoutError; every publish goes through here, so no caller waits on the broker for
    longer (a broker under a memory alarm blocks publishers indefinitely). The publish runs
    as its own task: should the client library hold on through a cancellation while the
    connection drops, the caller still returns in time."""
    seconds = get_settings().publish_timeout_seconds
    publish = asyncio.ensure_future(publishing)
    try:
        done, _ = await asyncio.wait({publish}, timeout=seconds)
    except asyncio.CancelledError:
        publish.cancel()
        raise
    if not done:
        publish.cancel()
        raise TimeoutError(f"RabbitMQ did not confirm the publish within {seconds} s")
    publish.result()


async def publish_task_later(message: TaskMessage, *, delay_seconds: float) -> None:
    """Publish a task to come back to its work queue after `delay_seconds`."""
    await _confirmed_in_time(
        delayed_task_publisher.publish(
            message,
            routing_key=delay_routing_key(delay_level(delay_seconds)),
            # Dead-lettered at expiry under its original routing keys: CC's is its work queue.
            headers={"CC": [_route(message)]},
            expiration=timedelta(seconds=max(delay_seconds, 0.001)),
        )
    )


async def publish_cancel(message: CancelMessage) -> None:
    """Tell every worker process to stop the task if it is running it."""
    await _confirmed_in_time(cancel_publisher.publish(message))


def _route(message: TaskMessage) -> str:
    return work_routing_key(message.queue, band_of(message.priority))


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
    await _confirmed_in_time(dead_letter_publisher.publish(body, headers=headers))


async def declare_topology(queues: list[str]) -> None:
    """Declare the exchanges and queues and their bindings for these named task queues (the
    API publishes before any worker may have started)."""
    await broker.declare_exchange(cancel_exchange)
    for exchange, queue in bindings(queues):
        declared_exchange = await broker.declare_exchange(exchange)
        declared_queue = await broker.declare_queue(queue)
        await declared_queue.bind(declared_exchange, routing_key=queue.routing())


@dataclass(frozen=True)
class QueueDepth:
    """What RabbitMQ says of one band of a named queue."""

    band: Band
    ready: int
    consumers: int


async def queue_depths(queue: str) -> list[QueueDepth]:
    """Messages ready and consumers of each band of a named queue, asked of RabbitMQ now."""
    depths = []
    for band in Band:
        declared: AbstractRobustQueue = await broker.declare_queue(work_queue(queue, band))
        # Declaring again (same arguments) is how AMQP reports a queue's current counts.
        result = await declared.declare()
        depths.append(
            QueueDepth(
                band=band,
                ready=int(result.message_count or 0),
                consumers=int(result.consumer_count or 0),
            )
        )
    return depths
