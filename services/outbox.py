"""Sending the messages of committed tasks, and marking the confirmed ones.

The task table is the outbox: a task is recorded (committed) first, then its message is
published; `published_at` stays NULL until the broker confirmed it, and the outbox relay
(services/relay.py) sends whatever stays unconfirmed. A mark that never lands only makes the
relay send a harmless duplicate (claims are conditional).
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from db.session import Database
from db.tasks.submit import Publish, mark_published
from publishers.messages import TaskMessage, TaskOrigin
from publishers.publishing import Publishers
from services.coalescing import Coalescer
from services.observability import correlation
from services.observability.tracing import current_traceparent

logger = logging.getLogger(__name__)

# How long a published task is left to its worker's claim before the API marks it itself:
# long enough that the claim usually comes first (so the mark writes nothing), and at most
# half the relay's grace, so the relay never takes a published task for an unpublished one.
PUBLISHED_MARK_DELAY_SECONDS = 1.0


class Outbox:
    """Publishes committed tasks (concurrent callers' together) and marks those the broker
    confirmed; concurrent marks share one statement."""

    def __init__(self, *, database: Database, publishers: Publishers, grace_seconds: float):
        self._database = database
        self._publishers = publishers
        self._mark_delay = min(PUBLISHED_MARK_DELAY_SECONDS, grace_seconds / 2)
        self._shared_publishes = Coalescer(publishers.publish_tasks, in_flight=2)
        self._marks = Coalescer(self._record_marks)
        self._marking: set[asyncio.Task[None]] = set()

    async def send(self, tasks: Sequence[Any], *, shared: bool, mark_at_once: bool) -> None:
        """Publish the tasks (rows as inserted, or Task objects) and mark the confirmed ones;
        the rest stay unpublished for the relay. `shared`: one request's tasks, sent in the
        messages of concurrent requests. `mark_at_once`: mark before returning, not after
        the claim has had its chance (a replay: the relay's grace counts from creation)."""
        messages = [with_origin(TaskMessage.model_validate(task), task) for task in tasks]
        if shared:
            outcomes = [await self._shared_publishes.submit(message) for message in messages]
        else:
            outcomes = await self._publishers.publish_tasks(messages)
        published = [
            Publish(message.id, _replays(task))
            for message, task, outcome in zip(messages, tasks, outcomes, strict=True)
            if outcome is None
        ]
        if len(published) < len(tasks):
            logger.warning("%d task(s) recorded but not published yet", len(tasks) - len(published))
        if not published:
            return
        if mark_at_once:
            await self._mark(published)
            return
        marking = asyncio.create_task(self._mark_later(published))
        self._marking.add(marking)
        marking.add_done_callback(self._marking.discard)

    async def mark_published(self, publishes: Sequence[Publish]) -> None:
        """Record that the tasks' messages were confirmed, in one statement shared with
        concurrent callers."""
        await asyncio.gather(*(self._marks.submit(publish) for publish in publishes))

    async def _mark_later(self, publishes: list[Publish]) -> None:
        await asyncio.sleep(self._mark_delay)
        await self._mark(publishes)

    async def _mark(self, publishes: list[Publish]) -> None:
        try:
            await self.mark_published(publishes)
        except Exception as error:
            logger.warning("could not mark %d task(s) published: %s", len(publishes), error)

    async def _record_marks(self, publishes: list[Publish]) -> list[None]:
        async with self._database.connection() as connection:
            await mark_published(connection=connection, publishes=publishes)
        return [None] * len(publishes)


def with_origin(message: TaskMessage, task: Any) -> TaskMessage:
    """The message, carrying the current request's correlation id and trace context and the
    task's tenant to the worker (for its log lines and its attempt's span)."""
    message.origin = TaskOrigin(
        traceparent=current_traceparent(),
        request_id=correlation.request_id.get(),
        tenant=(task["tenant"] if isinstance(task, dict) else task.tenant) or None,
    )
    return message


def _replays(task: Any) -> int:
    """Which publish of the task this is: of its submit (0) or of its nth replay."""
    return int(task["replays"] if isinstance(task, dict) else task.replays)
