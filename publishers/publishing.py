"""The publisher objects (declared once on the broker, so they appear in the AsyncAPI
document), and every publish Taskgate makes through them."""

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aio_pika.abc import AbstractRobustQueue, FieldValue
from aio_pika.exceptions import ChannelPreconditionFailed
from faststream.rabbit import RabbitBroker
from pydantic import BaseModel

from config import names
from config.settings import Settings
from publishers.messages import CancelMessage, TaskBatchMessage, TaskMessage
from publishers.signing import MessageSigner
from publishers.topology import Band, Topology, band_of, delay_level, delay_routing_key

JSON = "application/json"
RAW = "application/octet-stream"


class TopologyConflictError(Exception):
    """RabbitMQ holds an exchange or queue of Taskgate's under other arguments (a classic
    queue where Taskgate declares a quorum one, say): it cannot change one in place."""

    def __init__(self, refusal: str) -> None:
        # RabbitMQ's words name the queue and the argument: "PRECONDITION_FAILED -
        # inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received ...".
        self.refusal = refusal.removeprefix("PRECONDITION_FAILED - ")
        super().__init__(
            f"RabbitMQ refused Taskgate's topology: {self.refusal}. RabbitMQ cannot change a "
            "queue's type or arguments in place: let that queue drain, delete it (rabbitmqctl "
            "delete_queue <name>; a delay queue's pending retries are sent again by the "
            "outbox relay from PostgreSQL) and start again, or give this installation new "
            "names (RMQ_QUEUE_NAME, RMQ_QUEUE_EXCHANGE)"
        )


@dataclass(frozen=True)
class QueueDepth:
    """What RabbitMQ says of one band of a named queue."""

    band: Band
    ready: int
    consumers: int


class Publishers:
    """Every message Taskgate sends, each signed (publishers/signing.py). Each publish waits
    for the broker's confirm at most `publish_timeout` seconds, then raises TimeoutError: no
    caller waits on the broker for longer (a broker under a memory alarm blocks publishers
    indefinitely)."""

    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        *,
        signer: MessageSigner,
        publish_timeout: float,
    ) -> None:
        self.broker = broker
        self.topology = topology
        self.signer = signer
        self.publish_timeout = publish_timeout
        self._task = broker.publisher(
            exchange=topology.work_exchange,
            persist=True,
            mandatory=True,
            schema=TaskMessage,
            title="submit-task",
            description=(
                "A task accepted by the API, for a worker to run, routed to its named queue's "
                "priority band (high: 7-9, normal: 3-6, low: 0-2)."
            ),
        )
        self._task_batch = broker.publisher(
            exchange=topology.work_exchange,
            persist=True,
            mandatory=True,
            schema=TaskBatchMessage,
            title="submit-tasks",
            description=(
                f"Up to {names.TASK_BATCH_LIMIT} tasks of one named queue and priority band, "
                "accepted together (concurrent submits, or a batch), as one message marked "
                f"with the `{names.HEADER_TASK_BATCH}` header."
            ),
        )
        self._delayed_task = broker.publisher(
            exchange=topology.delay_exchange,
            persist=True,
            mandatory=True,
            schema=TaskMessage,
            title="retry-later",
            description=(
                "A task to run again after a delay (retry backoff, or a task another worker "
                "holds): it waits in a delay queue until its TTL ends, then returns to the "
                "work queue."
            ),
        )
        self._cancel = broker.publisher(
            exchange=topology.cancel_exchange,
            # No worker running means nobody to tell: the request is recorded in PostgreSQL.
            mandatory=False,
            schema=CancelMessage,
            title="cancel-task",
            description="Tells every worker process to stop a running task, if it runs it.",
        )
        self._dead_letter = broker.publisher(
            exchange=topology.dead_letter_exchange,
            routing_key=topology.dead_letter_queue.routing(),
            persist=True,
            mandatory=True,
            title="dead-letter",
            description=(
                "A task that failed for good, or a message no worker could read, with the "
                f"reason in the `{names.HEADER_DEAD_REASON}` header."
            ),
        )

    @classmethod
    def from_settings(cls, broker: RabbitBroker, settings: Settings) -> "Publishers":
        """Publishers on `broker` for the topology, secret and timeout of `settings`."""
        return cls(
            broker,
            Topology.from_settings(settings),
            signer=MessageSigner(settings.message_secret),
            publish_timeout=settings.publish_timeout_seconds,
        )

    async def publish_task(self, message: TaskMessage) -> None:
        """Publish a task for the workers; returns once the broker confirmed it."""
        await self._send(self._task, message, routing_key=self._route(message))

    async def publish_tasks(self, messages: Sequence[TaskMessage]) -> list[BaseException | None]:
        """Publish tasks for the workers, those of one queue and band together in messages
        of up to TASK_BATCH_LIMIT; for each task, None once confirmed, else the error."""
        by_route: defaultdict[str, list[int]] = defaultdict(list)
        for index, message in enumerate(messages):
            by_route[self._route(message)].append(index)
        limit = names.TASK_BATCH_LIMIT
        chunks = [
            (route, indexes[start : start + limit])
            for route, indexes in by_route.items()
            for start in range(0, len(indexes), limit)
        ]
        outcomes = await asyncio.gather(
            *(
                self._publish_chunk([messages[index] for index in indexes], route)
                for route, indexes in chunks
            ),
            return_exceptions=True,
        )
        results: list[BaseException | None] = [None] * len(messages)
        for (_, indexes), outcome in zip(chunks, outcomes, strict=True):
            for index in indexes:
                results[index] = outcome
        return results

    async def publish_later(self, message: TaskMessage, *, delay_seconds: float) -> None:
        """Publish a task to come back to its work queue after `delay_seconds`."""
        await self._send(
            self._delayed_task,
            message,
            routing_key=delay_routing_key(delay_level(delay_seconds)),
            # Dead-lettered at expiry under its original routing keys: CC's is its work queue.
            extra_headers={"CC": [self._route(message)]},
            expiration=timedelta(seconds=max(delay_seconds, 0.001)),
        )

    async def publish_cancel(self, message: CancelMessage) -> None:
        """Tell every worker process to stop the task if it is running it."""
        await self._send(self._cancel, message)

    async def publish_dead_letter(
        self,
        body: bytes | dict[str, Any],
        *,
        reason: str,
        task_id: str | None,
        recorded: bool = False,
        unverified: bool = False,
    ) -> None:
        """Send a message to the dead-letter queue with the reason it could not be run;
        `recorded`: the task is already marked dead in the task table; `unverified`: the
        message's own signature did not verify, so its record must change no task."""
        headers: dict[str, FieldValue] = {names.HEADER_DEAD_REASON: reason[:2000]}
        if task_id is not None:
            headers[names.HEADER_TASK_ID] = task_id
        if recorded:
            headers[names.HEADER_DEATH_RECORDED] = True
        if unverified:
            headers[names.HEADER_UNVERIFIED] = True
        if isinstance(body, bytes):
            # Sent as it came (it may not be JSON): the dead-letter subscriber reads bytes.
            await self._send(self._dead_letter, body, headers=headers, content_type=RAW)
        else:
            await self._send(self._dead_letter, json.dumps(body).encode(), headers=headers)

    async def declare_topology(self, queues: list[str]) -> None:
        """Declare the exchanges and queues and their bindings for these named task queues
        (the API publishes before any worker may have started)."""
        try:
            await self.broker.declare_exchange(self.topology.cancel_exchange)
            for exchange, queue in self.topology.bindings(queues):
                declared_exchange = await self.broker.declare_exchange(exchange)
                declared_queue = await self.broker.declare_queue(queue)
                await declared_queue.bind(declared_exchange, routing_key=queue.routing())
        except ChannelPreconditionFailed as error:
            raise TopologyConflictError(str(error)) from None

    async def queue_depths(self, queue: str) -> list[QueueDepth]:
        """Messages ready and consumers of each band of a named queue, asked of RabbitMQ."""
        depths = []
        for band in Band:
            declared: AbstractRobustQueue = await self.broker.declare_queue(
                self.topology.band_queue(queue, band)
            )
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

    def _route(self, message: TaskMessage) -> str:
        return self.topology.work_routing_key(message.queue, band_of(message.priority))

    async def _publish_chunk(self, messages: list[TaskMessage], route: str) -> None:
        if len(messages) == 1:
            await self._send(self._task, messages[0], routing_key=route)
        else:
            batch = TaskBatchMessage(tasks=messages)
            await self._send(
                self._task_batch,
                batch,
                routing_key=route,
                headers={names.HEADER_TASK_BATCH: True},
            )

    async def _send(
        self,
        publisher: Any,
        message: BaseModel | bytes,
        *,
        headers: dict[str, FieldValue] | None = None,
        extra_headers: dict[str, FieldValue] | None = None,
        **options: Any,
    ) -> None:
        """Serialize, sign (the body and `headers`; `extra_headers` are for the broker),
        publish, and wait for the confirm."""
        body = message if isinstance(message, bytes) else message.model_dump_json().encode()
        signed = self.signer.signed_headers(body, headers or {})
        options.setdefault("content_type", JSON)
        await self._confirmed(
            publisher.publish(body, headers={**signed, **(extra_headers or {})}, **options)
        )

    async def _confirmed(self, publishing: Awaitable[Any]) -> None:
        """Wait for the broker's confirm at most `publish_timeout`, then raise TimeoutError.
        The publish runs as its own task: should the client library hold on through a
        cancellation while the connection drops, the caller still returns in time."""
        publish = asyncio.ensure_future(publishing)
        try:
            done, _ = await asyncio.wait({publish}, timeout=self.publish_timeout)
        except asyncio.CancelledError:
            publish.cancel()
            raise
        if not done:
            publish.cancel()
            raise TimeoutError(
                f"RabbitMQ did not confirm the publish within {self.publish_timeout} s"
            )
        publish.result()
