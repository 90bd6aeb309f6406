"""A publish the broker never confirms returns to its caller in time, however the client
library treats the cancellation."""

import asyncio
import time
import uuid
from collections.abc import Awaitable

import pytest

from app.settings import get_settings
from publishers import tasks
from publishers.messages import CancelMessage, TaskMessage

DEADLINE = 0.2
# How long the stubborn publish holds on after its cancellation.
STUBBORN_FOR = 2.0


@pytest.fixture
def short_publish_timeout(monkeypatch):
    monkeypatch.setattr(get_settings(), "publish_timeout_seconds", DEADLINE)


async def test_a_publish_that_swallows_its_cancellation_still_times_out(short_publish_timeout):
    # Given a publish that never confirms and shrugs off the first cancellation
    cancelled = asyncio.Event()

    async def stubborn_publish() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
        await asyncio.sleep(STUBBORN_FOR)

    # When the caller waits for its confirm
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not confirm"):
        await tasks._confirmed_in_time(stubborn_publish())

    # Then it is told so within about the timeout, and the publish was told to stop
    assert time.monotonic() - started < STUBBORN_FOR
    await asyncio.wait_for(cancelled.wait(), timeout=1)


async def test_a_publish_error_reaches_the_caller(short_publish_timeout):
    async def refused() -> None:
        raise ConnectionError("channel closed")

    with pytest.raises(ConnectionError, match="channel closed"):
        await tasks._confirmed_in_time(refused())


def _never_confirms(*_args, **_kwargs):
    return asyncio.Event().wait()


@pytest.mark.parametrize(
    ("publisher", "publish"),
    [
        ("task_publisher", lambda: tasks.publish_task(_message())),
        ("task_batch_publisher", lambda: _raise_first(tasks.publish_tasks([_message()] * 2))),
        ("delayed_task_publisher", lambda: tasks.publish_task_later(_message(), delay_seconds=5)),
        ("cancel_publisher", lambda: tasks.publish_cancel(CancelMessage(id=uuid.uuid4()))),
        ("dead_letter_publisher", lambda: tasks.publish_dead_letter({}, reason="x", task_id=None)),
    ],
)
async def test_every_publish_gives_up_at_the_timeout(
    short_publish_timeout, monkeypatch, publisher, publish
):
    # Given a broker that takes every publish and never confirms it
    monkeypatch.setattr(getattr(tasks, publisher), "publish", _never_confirms)

    # When Taskgate publishes through it, then the caller hears of it within about the timeout
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not confirm"):
        await publish()
    assert time.monotonic() - started < STUBBORN_FOR


def _message() -> TaskMessage:
    return TaskMessage(id=uuid.uuid4(), name="echo", payload={})


async def _raise_first(outcomes: Awaitable[list[BaseException | None]]) -> None:
    for outcome in await outcomes:
        if outcome is not None:
            raise outcome
