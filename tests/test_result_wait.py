"""Long polling a task (`GET /api/v1/result/{id}?wait=N`) and the one listener behind it."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from app.waiting import LISTENER_APPLICATION_NAME, TaskWaiter, listener_connection, wait_for_task
from config.names import TASK_FINISHED_CHANNEL
from db.create_database import connect
from tests.support.api import RESULTS, SUBMIT, error_locations, submit, wait_terminal
from tests.support.database import new_session
from tests.support.settings import SETTINGS
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

# How late an answer may come after the moment it was due, on this shared machine.
SLACK = 1.5


async def timed_get(client, task_id: str, wait: float) -> tuple[dict, float]:
    """`GET /result/{id}?wait=`: the task, and how long the answer took."""
    started = time.monotonic()
    response = await client.get(f"{RESULTS}{task_id}", params={"wait": wait})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    return response.json(), elapsed


async def scheduled_task(client) -> dict:
    """A task that stays `scheduled` for an hour."""
    response = await client.post(SUBMIT, json={"name": "echo", "delay_seconds": 3600})
    assert response.status_code == 202, response.text
    return response.json()


async def test_wait_answers_as_soon_as_a_worker_finishes_the_task(client, worker_log):
    # Given a task that takes a worker one second
    submitted = await submit(client, "sleep", {"seconds": 1.0})

    # When it is read with a long wait
    task, elapsed = await timed_get(client, submitted["id"], wait=30)
    answered = datetime.now(UTC)

    # Then the answer is the finished task, sent when it finished, long before the wait ended
    assert task["status"] == "succeeded"
    assert elapsed >= 0.9, "answered before the task could have finished"
    assert (answered - datetime.fromisoformat(task["finished_at"])).total_seconds() < SLACK


async def test_wait_on_a_finished_task_answers_at_once(client, worker_log):
    # Given a task that has finished
    submitted = await submit(client, "echo", {"done": True})
    await wait_terminal(client, submitted["id"])

    # When it is read with a long wait
    task, elapsed = await timed_get(client, submitted["id"], wait=30)

    # Then the answer comes at once
    assert task["status"] == "succeeded"
    assert elapsed < SLACK


async def test_wait_on_a_task_that_does_not_finish_answers_it_unfinished_after_the_wait(client):
    # Given a task scheduled an hour from now
    submitted = await scheduled_task(client)

    # When it is read with a wait of 1.5 s
    task, elapsed = await timed_get(client, submitted["id"], wait=1.5)

    # Then the answer comes after about 1.5 s, with the task still scheduled
    assert task["status"] == "scheduled"
    assert 1.5 <= elapsed < 1.5 + SLACK


@pytest.mark.parametrize("wait", ["0", "-1", "60.5", "soon", "nan", "inf"])
async def test_wait_out_of_bounds_is_rejected_naming_wait(client, wait):
    # Given a task
    submitted = await scheduled_task(client)

    # When it is read with a wait that is not in (0, 60] seconds
    response = await client.get(f"{RESULTS}{submitted['id']}", params={"wait": wait})

    # Then the API answers 422 about the wait
    assert response.status_code == 422, response.text
    assert ["query", "wait"] in error_locations(response)


async def test_wait_on_an_unknown_task_is_not_found_at_once(client):
    started = time.monotonic()
    response = await client.get(f"{RESULTS}{uuid.uuid4()}", params={"wait": 30})

    assert response.status_code == 404
    assert time.monotonic() - started < SLACK


async def listeners() -> int:
    """Connections LISTENing for finished tasks on the test database."""
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            SETTINGS.db_name,
            LISTENER_APPLICATION_NAME,
        )
        return count
    finally:
        await connection.close()


async def test_fifty_waiters_share_one_listener_and_hold_no_pooled_connection(
    client, api_runtime, worker_log
):
    # Given ten tasks that take a worker four seconds each, and five waiters on each:
    # more waiters than the API's pool has connections
    waiters = 50
    assert waiters > 2 * SETTINGS.db_pool_size
    tasks = [await submit(client, "sleep", {"seconds": 4}) for _ in range(10)]
    requests = [
        asyncio.create_task(timed_get(client, task["id"], wait=30))
        for task in tasks
        for _ in range(waiters // len(tasks))
    ]

    # When all of them are waiting
    async def all_waiting() -> bool:
        return api_runtime.waiter.waiting == waiters

    await wait_for(all_waiting, timeout=10, what="every request to wait")

    # Then they hold no pooled connection, one listener serves them all, and another
    # request is answered meanwhile
    async def pool_idle() -> bool:
        return api_runtime.database.engine.pool.checkedout() == 0

    await wait_for(pool_idle, timeout=5, what="the waiting requests to hold no connection")
    assert await listeners() == 1
    meanwhile = await asyncio.wait_for(client.get(f"{RESULTS}{tasks[0]['id']}"), SLACK)
    assert meanwhile.status_code == 200
    assert meanwhile.json()["status"] != "succeeded"

    # And every waiter gets its task finished, well before its wait ran out
    answers = await asyncio.gather(*requests)
    assert {task["status"] for task, _ in answers} == {"succeeded"}
    assert max(elapsed for _, elapsed in answers) < 20
    assert api_runtime.waiter.waiting == 0


# The waiter on its own, on a channel of its own.

CHANNEL = f"{TASK_FINISHED_CHANNEL}_test"


@pytest.fixture
async def notifier(migrated_database: None) -> AsyncIterator:
    """Sends finished-task notifications on the test channel."""
    connection = await connect(SETTINGS, SETTINGS.db_name)

    async def notify(task_id: uuid.UUID) -> None:
        await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(task_id))

    yield notify
    await connection.close()


@pytest.fixture
async def waiter(migrated_database: None) -> AsyncIterator[TaskWaiter]:
    """A started waiter listening on the test channel; its connections are kept in `made`."""
    made = []

    async def recording_connect():
        connection = await listener_connection(SETTINGS)
        made.append(connection)
        return connection

    started = TaskWaiter(recording_connect, channel=CHANNEL)
    started.made = made  # type: ignore[attr-defined]
    started.start()

    async def listening() -> bool:
        return started.listening

    await wait_for(listening, timeout=10, what="the waiter to listen")
    yield started
    await started.stop()


async def test_a_notification_wakes_every_waiter_of_that_task_and_no_other(waiter, notifier):
    # Given two waiters on one task and one on another
    finished, other = uuid.uuid4(), uuid.uuid4()
    with (
        waiter.watch(finished) as first,
        waiter.watch(finished) as second,
        waiter.watch(other) as third,
    ):
        # When PostgreSQL says the first task finished
        await notifier(finished)
        await asyncio.wait_for(asyncio.gather(first, second), SLACK)

        # Then both its waiters are woken, and the other is not
        assert not third.done()
    # and leaving the watch unregisters every waiter
    assert waiter.waiting == 0


async def test_the_listener_comes_back_after_its_connection_is_killed(waiter, notifier):
    # Given a waiter registered while the listener is connected
    task_id = uuid.uuid4()
    with waiter.watch(task_id) as before:
        # When the listener's connection is killed from the server side
        killer = await connect(SETTINGS, SETTINGS.db_name)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", waiter.made[0].get_server_pid())
        finally:
            await killer.close()

        # Then it reconnects by itself, and wakes the waiter to read the task again
        # (what finished while nobody listened was not heard)
        await asyncio.wait_for(before, 10)
        assert len(waiter.made) == 2 and waiter.listening

    # And notifications reach new waiters through the new connection
    with waiter.watch(task_id) as after:
        await notifier(task_id)
        await asyncio.wait_for(after, SLACK)


async def test_waiting_ends_at_the_deadline_when_the_listener_cannot_connect(client):
    # Given a waiter whose database never answers, and a task that will not finish
    async def refused():
        raise OSError("connection refused")

    unreachable = TaskWaiter(refused)
    unreachable.start()
    task_id = uuid.UUID((await scheduled_task(client))["id"])
    try:
        # When a request waits one second for the task
        started = time.monotonic()
        async with new_session() as session:
            task = await wait_for_task(
                session=session, waiter=unreachable, task_id=task_id, tenant=None, seconds=1.0
            )

        # Then it answers with the task as it is, at its deadline
        assert task.status == "scheduled"
        assert 1.0 <= time.monotonic() - started < 1.0 + SLACK
    finally:
        await unreachable.stop()


async def _never_connects():
    raise AssertionError("this waiter is never started")


class FinishingSession:
    """Stands in for a session: the task finishes right after the first read, before the
    request starts waiting (the race a waiter must not lose)."""

    def __init__(self, waiter: TaskWaiter, task_id: uuid.UUID) -> None:
        self.waiter, self.task_id, self.reads = waiter, task_id, 0

    async def get(self, _model, _task_id):
        self.reads += 1
        if self.reads == 1:
            self.waiter.wake(self.task_id)
            return SimpleNamespace(status="running")
        return SimpleNamespace(status="succeeded")

    async def close(self) -> None:
        pass


async def test_a_task_finishing_between_the_read_and_the_wait_still_wakes_the_request():
    # Given a waiter without any connection (only this test wakes it)
    waiter, task_id = TaskWaiter(_never_connects), uuid.uuid4()
    session = FinishingSession(waiter, task_id)

    # When the task finishes just after the request read it
    started = time.monotonic()
    task = await wait_for_task(
        session=session, waiter=waiter, task_id=task_id, tenant=None, seconds=30
    )

    # Then the request is woken at once and answers the finished task
    assert task.status == "succeeded"
    assert time.monotonic() - started < SLACK
    assert session.reads == 2
