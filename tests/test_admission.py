"""The admission gate: how many tasks run at once, and which waiting band goes next."""

import asyncio
from collections import Counter

import pytest

from publishers.topology import Band
from subscribers.admission import AdmissionGate


async def hold(gate: AdmissionGate, band: Band, started: list[Band], release: asyncio.Event):
    async with gate.slot(band):
        started.append(band)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_no_more_than_the_slots_run_at_once():
    # Given a gate of 3 slots and 10 tasks wanting one
    gate, started, release = AdmissionGate(slots=3), [], asyncio.Event()
    holders = [asyncio.create_task(hold(gate, Band.NORMAL, started, release)) for _ in range(10)]

    # When they have all asked
    await settle()

    # Then 3 run and 7 wait; once released, all of them run
    assert len(started) == 3 and gate.waiting == 7
    release.set()
    await asyncio.gather(*holders)
    assert len(started) == 10 and gate.waiting == 0


async def test_a_waiting_high_band_task_gets_the_next_slot_before_waiting_low_ones():
    # Given one slot taken, 50 low tasks waiting, then one high task arriving last
    gate, order = AdmissionGate(slots=1), []
    first = asyncio.Event()
    blocker = asyncio.create_task(hold(gate, Band.LOW, [], first))
    await settle()

    async def run(band: Band) -> None:
        async with gate.slot(band):
            order.append(band)

    lows = [asyncio.create_task(run(Band.LOW)) for _ in range(50)]
    await settle()
    high = asyncio.create_task(run(Band.HIGH))
    await settle()

    # When the slot frees
    first.set()
    await asyncio.gather(blocker, high, *lows)

    # Then the high one ran first
    assert order[0] is Band.HIGH and order.count(Band.LOW) == 50


async def test_bands_share_slots_by_weight_and_low_is_not_starved():
    # Given one slot and 100 tasks waiting in each band
    gate, order = AdmissionGate(slots=1), []
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(gate, Band.NORMAL, [], release))
    await settle()

    async def run(band: Band) -> None:
        async with gate.slot(band):
            order.append(band)

    waiters = [asyncio.create_task(run(band)) for band in Band for _ in range(100)]
    await settle()

    # When they run one after another
    release.set()
    await asyncio.gather(blocker, *waiters)

    # Then of the first 50 starts, 6 in 10 are high, 3 normal, 1 low
    assert Counter(order[:50]) == {Band.HIGH: 30, Band.NORMAL: 15, Band.LOW: 5}


async def test_a_cancelled_waiter_gives_up_its_place_and_a_granted_one_its_slot():
    # Given one slot taken and two tasks waiting
    gate, started = AdmissionGate(slots=1), []
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(gate, Band.NORMAL, started, release))
    await settle()
    cancelled = asyncio.create_task(hold(gate, Band.HIGH, started, release))
    survivor = asyncio.create_task(hold(gate, Band.LOW, started, release))
    await settle()

    # When the first waiter is cancelled, then the slot frees
    cancelled.cancel()
    await settle()
    release.set()
    await asyncio.gather(blocker, survivor)

    # Then the other waiter ran, and the slot is free again
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert started == [Band.NORMAL, Band.LOW]
    async with asyncio.timeout(1), gate.slot(Band.LOW):
        assert gate.waiting == 0


async def test_a_waiter_cancelled_just_before_a_slot_frees_loses_no_slot():
    # Given one slot taken and a task waiting for it
    gate, started = AdmissionGate(slots=1), []
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(gate, Band.NORMAL, started, release))
    await settle()
    waiter = asyncio.create_task(hold(gate, Band.NORMAL, started, release))
    await settle()

    # When the waiter is cancelled and the slot frees before the waiter's cleanup has run
    # (as when a closing channel cancels every delivery at once)
    release.set()
    waiter.cancel()
    await blocker

    # Then the holder left cleanly, the waiter was cancelled, and the slot is free again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert started == [Band.NORMAL]
    async with asyncio.timeout(1), gate.slot(Band.LOW):
        assert gate.waiting == 0
