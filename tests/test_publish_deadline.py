"""A publish the broker never confirms returns to its caller in time, however the client
library treats the cancellation."""

import asyncio
import time

import pytest

from app.settings import get_settings
from publishers import tasks

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
