"""Live events of one task (GET /api/v1/result/{id}/events) as Server-Sent Events: its
state, then each change of its status, attempts, progress or cancel request, until it ends.

Changes come through PostgreSQL, so any API process serves any task, whichever worker runs
it. An open stream reads four columns of its task by primary key every SSE_POLL_SECONDS,
holding no pooled connection in between, and the whole task only when they changed; the
finished-task notice this process already listens for (app/waiting.py) wakes it at once
when the task ends. No trigger is added for it: a NOTIFY on every transition would put
every commit of the hot path (each claim and success, watched or not) through PostgreSQL's
one notify-queue lock, while polling costs only what is watched. That cost is bounded:
SSE_MAX_STREAMS streams per process (503 beyond), each open SSE_MAX_SECONDS at most.
"""

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from app.schemas import TaskOut
from app.waiting import TaskWaiter
from config.settings import Settings
from db.models import TERMINAL_STATUSES, Task
from db.session import Database
from db.tasks import reads
from db.tasks.watching import task_state
from services.task_views import get_task

logger = logging.getLogger(__name__)

# A quiet stream sends a comment this often, so proxies and clients know it is alive.
KEEPALIVE_SECONDS = 15.0
# How long a client waits before it reconnects to a stream that ended (the `retry:` field).
RECONNECT_MILLISECONDS = 1000
# What each event is called (`event:`).
EVENT_NAME = "task"


def version_of(
    task_id: uuid.UUID, status: str, attempts: int, progress: Any, cancel_requested_at: Any
) -> str:
    """An event's id: the same for the same task, status, attempts, progress and cancel
    request (another task's id never matches)."""
    seen = [str(task_id), status, attempts, progress, cancel_requested_at]
    text = json.dumps(seen, default=str, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class TaskEvent:
    """One event: the task as GET renders it, under the id of its version."""

    id: str
    frame: bytes
    terminal: bool

    @classmethod
    def of(cls, task: Task) -> "TaskEvent":
        version = version_of(
            task.id, task.status, task.attempts, task.progress, task.cancel_requested_at
        )
        data = TaskOut.model_validate(task).model_dump_json()
        frame = format_sse_event(data_str=data, event=EVENT_NAME, id=version)
        return cls(id=version, frame=frame, terminal=task.status in TERMINAL_STATUSES)


class StreamsFullError(Exception):
    """This process serves as many streams as it may (SSE_MAX_STREAMS)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this API process serves {limit} live streams already (SSE_MAX_STREAMS); retry "
            "shortly, or poll GET /api/v1/result/{id}?wait="
        )


class TaskStreams:
    """This process's live streams of tasks, at most SSE_MAX_STREAMS open at once."""

    def __init__(
        self,
        *,
        database: Database,
        waiter: TaskWaiter,
        settings: Settings,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.database = database
        self.waiter = waiter
        self.poll_seconds = settings.sse_poll_seconds
        self.max_seconds = settings.sse_max_seconds
        self.max_streams = settings.sse_max_streams
        self.keepalive_seconds = keepalive_seconds
        self.open = 0

    async def start(
        self, *, task_id: uuid.UUID, tenant: str | None, last_event_id: str | None
    ) -> "TaskStream | None":
        """A stream of the task (of `tenant`, unless None) from its state now, or None if it
        has ended and the client saw its end (`last_event_id`); TaskNotFoundError, or
        StreamsFullError."""
        async with self.database.session() as session:
            first = TaskEvent.of(await get_task(session=session, task_id=task_id, tenant=tenant))
        seen = first.id == last_event_id
        if seen and first.terminal:
            return None
        if self.open >= self.max_streams:
            raise StreamsFullError(self.max_streams)
        self.open += 1
        return TaskStream(self, task_id, first=None if seen else first, version=first.id)


class TaskStream:
    """One open stream: `body` yields its frames; `release` gives its place back."""

    def __init__(
        self, streams: TaskStreams, task_id: uuid.UUID, *, first: TaskEvent | None, version: str
    ) -> None:
        self._streams = streams
        self.task_id = task_id
        self._version = version
        self._released = False
        self.body = self._frames(first)

    def release(self) -> None:
        """Give the stream's place back (once)."""
        if not self._released:
            self._released = True
            self._streams.open -= 1

    async def _frames(self, first: TaskEvent | None) -> AsyncGenerator[bytes, None]:
        streams, loop = self._streams, asyncio.get_running_loop()
        deadline = loop.time() + streams.max_seconds
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
        if first is not None:
            yield first.frame
            if first.terminal:
                return
        quiet_since = loop.time()
        while True:
            # Registered before the read: an end after the read still wakes the stream.
            with streams.waiter.watch(self.task_id) as finished:
                try:
                    event = await self._changed()
                except _GoneError:
                    return
                except Exception as error:
                    # The client reconnects (Last-Event-ID) once the database answers again.
                    logger.warning("ending the live stream of task %s (%r)", self.task_id, error)
                    return
                now = loop.time()
                if event is not None:
                    yield event.frame
                    quiet_since = now
                    if event.terminal:
                        return
                if now >= deadline:
                    return
                if now - quiet_since >= streams.keepalive_seconds:
                    yield KEEPALIVE_COMMENT
                    quiet_since = now
                pause = min(
                    streams.poll_seconds,
                    deadline - now,
                    quiet_since + streams.keepalive_seconds - now,
                )
                await asyncio.wait({finished}, timeout=pause)

    async def _changed(self) -> TaskEvent | None:
        """The task's event if it changed since the last one sent, else None; _GoneError if
        it was deleted (purged, or past its retention)."""
        database = self._streams.database
        async with database.connection() as connection:
            state = await task_state(connection=connection, task_id=self.task_id)
        if state is None:
            raise _GoneError()
        seen = (state.status, state.attempts, state.progress, state.cancel_requested_at)
        if version_of(self.task_id, *seen) == self._version:
            return None
        async with database.session() as session:
            task = await reads.get_task(session=session, task_id=self.task_id, tenant=None)
            if task is None:
                raise _GoneError()
            event = TaskEvent.of(task)
        self._version = event.id
        return event


class _GoneError(Exception):
    """The task no longer exists."""
