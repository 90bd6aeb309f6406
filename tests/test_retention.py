"""The retention sweep deletes finished tasks past their retention, in bounded batches,
safely from any number of processes at once."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, text

from db.models import Task
from services.retention import RetentionPolicy, RetentionSweep, sweep_once
from tests.support.database import new_session, shared_database
from tests.support.settings import settings_with
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

HOUR = 3600
# Younger than the default retentions, so the sweeps the API and the workers run leave
# these tests' rows alone.
POLICY = RetentionPolicy(succeeded=timedelta(hours=1), dead=timedelta(hours=2))


@pytest.fixture
async def make_tasks(migrated_database):
    """Insert tasks finished some seconds ago (backdated by SQL); removed after the test."""
    made: list[uuid.UUID] = []

    async def make(status: str, finished_ago: float, count: int = 1) -> list[uuid.UUID]:
        ids = [uuid.uuid4() for _ in range(count)]
        rows = [{"id": task_id, "name": "echo", "status": status} for task_id in ids]
        async with new_session() as session:
            await session.execute(insert(Task), rows)
            await session.execute(
                text(
                    "UPDATE tasks SET finished_at = now() - make_interval(secs => :ago), "
                    "published_at = now(), run_at = now() + interval '1 day' "
                    "WHERE id = ANY(:ids)"
                ),
                {"ago": finished_ago, "ids": ids},
            )
            await session.commit()
        made.extend(ids)
        return ids

    yield make
    async with new_session() as session:
        await session.execute(delete(Task).where(Task.id.in_(made)))
        await session.commit()


async def remaining(ids: list[uuid.UUID]) -> set[uuid.UUID]:
    async with new_session() as session:
        return set(await session.scalars(select(Task.id).where(Task.id.in_(ids))))


async def sweep(policy: RetentionPolicy = POLICY, batch_size: int = 100) -> int:
    async with new_session() as session:
        return await sweep_once(session=session, policy=policy, batch_size=batch_size)


async def test_sweep_deletes_finished_tasks_past_their_retention_and_keeps_the_rest(make_tasks):
    # Given tasks of each finished kind past their retention, and ones within it: a dead
    # task is kept longer than a succeeded one; and waiting or running tasks that carry an
    # old finished_at all the same
    old = [
        *await make_tasks("succeeded", 3 * HOUR),
        *await make_tasks("cancelled", 3 * HOUR),
        *await make_tasks("dead", 3 * HOUR),
    ]
    young = [
        *await make_tasks("succeeded", 0.5 * HOUR),
        *await make_tasks("cancelled", 0.5 * HOUR),
        *await make_tasks("dead", 1.5 * HOUR),
    ]
    unfinished = [
        *await make_tasks("scheduled", 3 * HOUR),
        *await make_tasks("running", 3 * HOUR),
    ]

    # When the sweep runs
    deleted = await sweep()

    # Then exactly the old finished ones are gone
    assert deleted == len(old)
    assert await remaining(old + young + unfinished) == set(young + unfinished)


async def test_zero_retention_keeps_tasks_forever(make_tasks):
    # Given an old succeeded task and an old dead one
    succeeded = await make_tasks("succeeded", 3 * HOUR)
    dead = await make_tasks("dead", 3 * HOUR)

    # When sweeps run that keep dead tasks forever, then every task forever
    keep_dead = RetentionPolicy(succeeded=timedelta(hours=1), dead=None)
    deleted_first = await sweep(keep_dead)
    deleted_second = await sweep(RetentionPolicy(succeeded=None, dead=None))

    # Then the first deletes only the succeeded one, the second nothing
    assert (deleted_first, deleted_second) == (1, 0)
    assert await remaining(succeeded + dead) == set(dead)


async def test_one_sweep_deletes_at_most_a_batch_oldest_first(make_tasks):
    # Given five succeeded tasks past their retention, finished at different times
    by_age = [(await make_tasks("succeeded", hours * HOUR))[0] for hours in (7, 6, 5, 4, 3)]

    # When one sweep runs with a batch size of two
    deleted = await sweep(batch_size=2)

    # Then it deletes the two that finished first, and no more
    assert deleted == 2
    assert await remaining(by_age) == set(by_age[2:])


async def test_batch_size_bounds_a_sweep_across_kinds(make_tasks):
    # Given three old succeeded tasks and three old dead ones
    tasks = [*await make_tasks("succeeded", 3 * HOUR, 3), *await make_tasks("dead", 3 * HOUR, 3)]

    # When one sweep runs with a batch size of four
    deleted = await sweep(batch_size=4)

    # Then it deletes four in all
    assert deleted == 4
    assert len(await remaining(tasks)) == 2


async def test_concurrent_sweeps_share_the_rows_without_failing_or_double_counting(make_tasks):
    # Given thirty old finished tasks
    tasks = [
        *await make_tasks("succeeded", 3 * HOUR, 10),
        *await make_tasks("cancelled", 3 * HOUR, 10),
        *await make_tasks("dead", 3 * HOUR, 10),
    ]

    async def sweep_until_done() -> int:
        total = 0
        while deleted := await sweep(batch_size=3):
            total += deleted
        return total

    # When three sweepers run at once, each until it finds nothing more to delete
    totals = await asyncio.gather(*(sweep_until_done() for _ in range(3)))

    # Then every task is gone, and the sweepers' counts add up to exactly thirty
    assert sum(totals) == len(tasks)
    assert await remaining(tasks) == set()


async def test_background_sweep_deletes_expired_tasks_on_its_own(make_tasks):
    # Given an old succeeded task, and the background sweep with a short interval
    (task,) = await make_tasks("succeeded", 3 * HOUR)
    settings = settings_with(
        retention_succeeded_seconds=POLICY.succeeded.total_seconds(),
        retention_dead_seconds=POLICY.dead.total_seconds(),
        retention_interval_seconds=0.1,
    )
    loop = RetentionSweep(database=shared_database(), settings=settings)
    assert loop.policy == POLICY

    # When it runs
    loop.start()
    try:
        # Then the task is deleted without anyone calling the sweep
        async def gone() -> bool:
            return not await remaining([task])

        await wait_for(gone, timeout=10, what="the background sweep to delete the task")
    finally:
        await loop.stop()
