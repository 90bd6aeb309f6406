"""A publish the broker never confirms returns to its caller in time, however the client
library treats the cancellation; every kind of publish does."""

import asyncio
import time
import uuid
from collections.abc import Awaitable

import pytest

from publishers.broker import build_broker
from publishers.messages import CancelMessage, TaskMessage
from publishers.publishing import Publishers
from publishers.signing import MessageSigner
from publishers.topology import Topology
from tests.support.settings import SETTINGS

DEADLINE = 0.2
# How long the stubborn publish holds on after its cancellation.
STUBBORN_FOR = 2.0


@pytest.fixture
def publishers() -> Publishers:
    """Publishers whose broker is never connected, waiting DEADLINE for each confirm."""
    return Publishers(
        build_broker(SETTINGS),
        Topology.from_settings(SETTINGS),
        signer=MessageSigner(SETTINGS.message_secret),
        publish_timeout=DEADLINE,
    )


async def test_a_publish_that_swallows_its_cancellation_still_times_out(publishers):
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
        await publishers._confirmed(stubborn_publish())

    # Then it is told so within about the timeout, and the publish was told to stop
    assert time.monotonic() - started < STUBBORN_FOR
    await asyncio.wait_for(cancelled.wait(), timeout=1)


async def test_a_publish_error_reaches_the_caller(publishers):
    async def refused() -> None:
        raise ConnectionError("channel closed")

    with pytest.raises(ConnectionError, match="channel closed"):
        await publishers._confirmed(refused())


def _never_confirms(*_args, **_kwargs):
    return asyncio.Event().wait()


@pytest.mark.parametrize(
    ("publisher", "publish"),
    [
        ("_task", lambda p: p.publish_task(_message())),
        ("_task_batch", lambda p: _raise_first(p.publish_tasks([_message()] * 2))),
        ("_delayed_task", lambda p: p.publish_later(_message(), delay_seconds=5)),
        ("_cancel", lambda p: p.publish_cancel(CancelMessage(id=uuid.uuid4()))),
        ("_dead_letter", lambda p: p.publish_dead_letter({}, reason="x", task_id=None)),
    ],
)
async def test_every_publish_gives_up_at_the_timeout(publishers, monkeypatch, publisher, publish):
    # Given a broker that takes every publish and never confirms it
    monkeypatch.setattr(getattr(publishers, publisher), "publish", _never_confirms)

    # When Taskgate publishes through it, then the caller hears of it within about the timeout
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not confirm"):
        await publish(publishers)
    assert time.monotonic() - started < STUBBORN_FOR


def _message() -> TaskMessage:
    return TaskMessage(id=uuid.uuid4(), name="echo", payload={})


async def _raise_first(outcomes: Awaitable[list[BaseException | None]]) -> None:
    for outcome in await outcomes:
        if outcome is not None:
            raise outcome
