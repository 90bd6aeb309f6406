"""Group commit: concurrent requests share flushes; errors reach every request of theirs."""

import asyncio

import pytest
from asyncpg.exceptions import DeadlockDetectedError

from services.coalescing import Coalescer


async def test_requests_arriving_during_a_flush_share_the_next_one():
    # Given a flush that takes a moment, and 50 requests arriving together
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def flush(requests: list[int]) -> list[int]:
        batches.append(requests)
        await release.wait()
        return [request * 2 for request in requests]

    coalescer = Coalescer(flush)
    first = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(coalescer.submit(n)) for n in range(1, 50)]
    await asyncio.sleep(0)

    # When the flushes complete
    release.set()
    results = await asyncio.gather(first, *rest)

    # Then the first went alone, the 49 others in one flush, each answered its own result
    assert [len(batch) for batch in batches] == [1, 49]
    assert results == [n * 2 for n in range(50)]


async def test_with_two_flushes_in_flight_the_third_batch_waits_for_one_to_finish():
    # Given a coalescer allowed two flushes at once, each flush held until released
    batches: list[list[int]] = []
    releases: list[asyncio.Event] = []

    async def flush(requests: list[int]) -> list[int]:
        batches.append(requests)
        releases.append(release := asyncio.Event())
        await release.wait()
        return requests

    coalescer = Coalescer(flush, in_flight=2)

    # When one request arrives, then a second, then 10 more while both flushes run
    first = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0)
    second = asyncio.create_task(coalescer.submit(1))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(coalescer.submit(n)) for n in range(2, 12)]
    await asyncio.sleep(0)

    # Then the first two went out at once, and the rest wait, together, for a free flush
    assert batches == [[0], [1]]
    releases[0].set()
    assert await first == 0
    await asyncio.sleep(0)
    assert batches == [[0], [1], list(range(2, 12))]
    for release in releases:
        release.set()
    assert await asyncio.gather(second, *rest) == list(range(1, 12))


async def test_a_flush_error_is_raised_to_each_of_its_requests_and_the_next_flush_runs():
    calls = 0

    async def flush(requests: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("database went away")
        return requests

    coalescer = Coalescer(flush)
    failed = await asyncio.gather(
        coalescer.submit("a"), coalescer.submit("b"), return_exceptions=True
    )
    assert all(isinstance(error, ConnectionResetError) for error in failed)
    assert await coalescer.submit("c") == "c"


async def test_a_deadlock_runs_the_flush_again():
    attempts = 0

    async def flush(requests: list[str]) -> list[str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("aborted") from DeadlockDetectedError("deadlock detected")
        return requests

    assert await Coalescer(flush).submit("x") == "x"
    assert attempts == 2


async def test_a_batch_is_never_larger_than_max_batch():
    sizes: list[int] = []

    async def flush(requests: list[int]) -> list[int]:
        sizes.append(len(requests))
        await asyncio.sleep(0)
        return requests

    coalescer = Coalescer(flush, max_batch=10)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(35)))
    assert results == list(range(35))
    assert max(sizes) <= 10 and sum(sizes) == 35


@pytest.mark.parametrize("count", [1, 3])
async def test_a_cancelled_caller_does_not_cancel_the_flush(count):
    # Given requests taken into a flush that is running
    flushed: list[list[int]] = []
    release = asyncio.Event()

    async def flush(requests: list[int]) -> list[int]:
        await release.wait()
        flushed.append(requests)
        return requests

    coalescer = Coalescer(flush)
    callers = [asyncio.create_task(coalescer.submit(n)) for n in range(count)]
    await asyncio.sleep(0)

    # When the callers are cancelled, then the flush completes
    for caller in callers:
        caller.cancel()
    release.set()
    await asyncio.gather(*callers, return_exceptions=True)
    for _ in range(5):
        await asyncio.sleep(0)

    # Then the statement was still carried out for them
    assert flushed == [list(range(count))]


async def test_a_request_made_as_the_last_flush_ends_is_flushed_too():
    # Given a task that submits as soon as a flush runs, woken before that flush ends
    flushing = asyncio.Event()

    async def flush(requests: list[int]) -> list[int]:
        flushing.set()
        return requests

    coalescer = Coalescer(flush)

    async def follower() -> int:
        await flushing.wait()
        return await coalescer.submit(2)

    following = asyncio.create_task(follower())
    await asyncio.sleep(0)

    # When the flush of a first request runs and ends with nothing else waiting
    assert await coalescer.submit(1) == 1

    # Then the follower's request is flushed too, not left for a request after it
    assert await asyncio.wait_for(following, timeout=1) == 2
