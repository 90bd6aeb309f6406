"""Long polling: answering as soon as a task finishes, without polling the table.

A trigger (migration 0005) sends the id of every task that reaches a terminal state on
TASK_FINISHED_CHANNEL. One dedicated connection per process LISTENs there and wakes the
requests waiting for that task. A request registers before it reads the task, so a task
that finishes between the read and the wait still wakes it; and it never waits past its own
deadline, so a listener that is down (PostgreSQL restarting) makes answers late, never wrong.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from config.names import TASK_FINISHED_CHANNEL
from config.settings import Settings
from db.create_database import connect
from db.models import TERMINAL_STATUSES, Task
from services.background import BackgroundLoop
from services.task_views import get_task

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60.0
# After the listener lost its connection (or could not make one): the first retry comes
# after the minimum, each failed one doubles the pause up to the maximum.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0
# An idle listener checks its connection this often: a network that drops packets closes
# nothing, and a LISTEN connection that is silently dead would never notice.
KEEPALIVE_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 2.0
# How the listener shows in pg_stat_activity.
LISTENER_APPLICATION_NAME = "taskgate-listener"

Connect = Callable[[], Awaitable[asyncpg.Connection]]


async def listener_connection(settings: Settings) -> asyncpg.Connection:
    """A connection of its own to the task database, on PostgreSQL itself (DB_DIRECT_HOST):
    a LISTEN lasts as long as its session, which a pooler in transaction mode does not keep."""
    connection = await connect(settings, settings.db_name)
    try:
        await connection.execute(f"SET application_name = '{LISTENER_APPLICATION_NAME}'")
    except BaseException:
        connection.terminate()
        raise
    return connection


def _wake(futures: Iterable[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


class Subscriber(Protocol):
    """Another listener of the one connection: told of each notice on its channel, and of
    every gap (notices may have been missed while nobody listened)."""

    def notice(self, payload: str) -> None: ...

    def gap(self) -> None: ...


class TaskWaiter(BackgroundLoop):
    """The process's one LISTEN connection, fanned out to futures keyed by task id (and to
    the subscribers of other channels)."""

    name = "task-waiter"

    def __init__(self, connect: Connect, *, channel: str = TASK_FINISHED_CHANNEL) -> None:
        super().__init__()
        self._connect = connect
        self._channel = channel
        self._waiters: dict[uuid.UUID, set[asyncio.Future[None]]] = {}
        self._subscribers: dict[str, Subscriber] = {}
        self.listening = False

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        """Have `subscriber` hear `channel` on this connection too (before `start`)."""
        self._subscribers[channel] = subscriber

    @property
    def waiting(self) -> int:
        """How many waiters are registered now."""
        return sum(len(futures) for futures in self._waiters.values())

    @contextlib.contextmanager
    def watch(self, task_id: uuid.UUID) -> Iterator[asyncio.Future[None]]:
        """A future resolved when `task_id` may have finished (read it again to know)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, set()).add(future)
        try:
            yield future
        finally:
            futures = self._waiters.get(task_id, set())
            futures.discard(future)
            if not futures:
                self._waiters.pop(task_id, None)

    def wake(self, task_id: uuid.UUID) -> None:
        """Resolve every waiter of `task_id`."""
        _wake(self._waiters.get(task_id, ()))

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            task_id = uuid.UUID(payload)
        except ValueError:
            logger.warning("ignoring a finished-task notification that is no task id: %r", payload)
            return
        self.wake(task_id)

    async def run_forever(self) -> None:
        pause = RECONNECT_MIN_SECONDS
        while True:
            try:
                connection = await self._connect()
            except Exception as error:
                logger.warning("cannot listen for finished tasks (%s); retrying", error)
            else:
                pause = RECONNECT_MIN_SECONDS
                await self._listen_until_lost(connection)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)

    async def _listen_until_lost(self, connection: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        try:
            await connection.add_listener(self._channel, self._notified)
            for channel, subscriber in self._subscribers.items():
                await connection.add_listener(channel, _relay_to(subscriber))
            self.listening = True
            # Tasks may have finished while nobody listened: every waiter reads again.
            for futures in list(self._waiters.values()):
                _wake(futures)
            for subscriber in self._subscribers.values():
                subscriber.gap()
            logger.info("listening for finished tasks on %s", self._channel)
            while True:
                try:
                    await asyncio.wait_for(lost.wait(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    await connection.execute("SELECT 1", timeout=KEEPALIVE_SECONDS)
                else:
                    logger.warning("lost the connection listening for finished tasks")
                    return
        except Exception as error:
            logger.warning("stopped listening for finished tasks (%s)", error)
        finally:
            self.listening = False
            with contextlib.suppress(Exception):
                await connection.close(timeout=CLOSE_TIMEOUT_SECONDS)


def _relay_to(subscriber: Subscriber) -> Callable[[Any, int, str, str], None]:
    def notified(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        subscriber.notice(payload)

    return notified


async def wait_for_task(
    *,
    session: AsyncSession,
    waiter: TaskWaiter,
    task_id: uuid.UUID,
    tenant: str | None,
    seconds: float,
) -> Task:
    """The task (of `tenant`, unless None) once it is terminal, or as it is when `seconds`
    have passed."""
    deadline = time.monotonic() + seconds
    while True:
        # Registered before the read: a finish after the read still wakes this waiter.
        with waiter.watch(task_id) as finished:
            task = await get_task(session=session, task_id=task_id, tenant=tenant)
            remaining = deadline - time.monotonic()
            if task.status in TERMINAL_STATUSES or remaining <= 0:
                return task
            # A waiting request holds no pooled connection: the read after the wait takes one.
            await session.close()
            await asyncio.wait({finished}, timeout=remaining)
