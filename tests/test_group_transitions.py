"""The batched claim and success against the real table: each row under its own condition."""

import asyncio
import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from db.tasks import attempts
from db.tasks.submit import Publish
from db.tasks.submit import mark_published as mark_published_statement
from tests.support.database import new_session, shared_database

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


async def mark_published(publishes: list[Publish]) -> None:
    """The API's published mark, in a statement of its own."""
    async with shared_database().connection() as connection:
        await mark_published_statement(connection=connection, publishes=publishes)


async def insert(status: str, *, lapsed: bool = False) -> uuid.UUID:
    task_id = uuid.uuid4()
    lease = "now() - interval '1 second'" if lapsed else "now() + interval '30 seconds'"
    async with new_session() as session:
        await session.execute(
            text(
                "INSERT INTO tasks (id, name, status, attempts, started_at, lease_expires_at) "
                f"VALUES (:id, 'echo', :status, :attempts, now() - interval '1 minute', {lease})"
            ),
            {"id": task_id, "status": status, "attempts": 1 if status == "running" else 0},
        )
        await session.commit()
    return task_id


async def test_claim_many_takes_waiting_and_lapsed_tasks_and_says_why_it_left_the_others(
    migrated_database,
):
    # Given a queued task (twice in the batch), a running one whose worker died, a running
    # one under a live lease, a finished one and an unknown id
    queued = await insert("queued")
    lapsed = await insert("running", lapsed=True)
    held = await insert("running")
    done = await insert("succeeded")
    unknown = uuid.uuid4()

    # When they are claimed in one statement
    async with shared_database().transaction() as connection:
        claims = await attempts.claim_many(
            connection=connection,
            task_ids=[queued, lapsed, held, done, unknown, queued],
            lease=LEASE,
            history=50,
        )

    # Then each gets its own answer, and the repeated id is claimed once
    first, taken_over, live, finished, missing, repeat = claims
    assert isinstance(first, attempts.Claimed) and first.attempt == 1
    assert isinstance(taken_over, attempts.Claimed) and taken_over.attempt == 2
    assert isinstance(live, attempts.HeldElsewhere) and live.lease_left_seconds > 20
    assert finished == attempts.NotRunnable(status="succeeded")
    assert missing == attempts.NotRunnable(status=None)
    assert isinstance(repeat, attempts.HeldElsewhere)
    async with new_session() as session:
        errors = await session.scalar(
            text("SELECT errors FROM tasks WHERE id = :id"), {"id": lapsed}
        )
    assert [entry["attempt"] for entry in errors] == [1]
    assert "worker lost" in errors[0]["error"]


async def test_succeed_many_records_only_attempts_that_still_hold_their_task(migrated_database):
    # Given two claimed tasks, one of which another worker then took over
    mine, taken = await insert("queued"), await insert("queued")
    async with shared_database().transaction() as connection:
        await attempts.claim_many(
            connection=connection, task_ids=[mine, taken], lease=LEASE, history=50
        )
    async with new_session() as session:
        await session.execute(text("UPDATE tasks SET attempts = 2 WHERE id = :id"), {"id": taken})
        await session.commit()

    # When both attempts 1 report success in one statement
    async with shared_database().transaction() as connection:
        recorded = await attempts.succeed_many(
            connection=connection,
            successes=[
                attempts.Success(mine, 1, {"ok": True}),
                attempts.Success(taken, 1, {"ok": True}),
            ],
        )

    # Then only the one still holding its task is recorded
    assert recorded == {mine}
    async with new_session() as session:
        rows = dict(
            (
                await session.execute(
                    text("SELECT id, status FROM tasks WHERE id IN (:a, :b)"),
                    {"a": mine, "b": taken},
                )
            ).all()
        )
    assert rows == {mine: "succeeded", taken: "running"}


async def test_batched_writes_on_the_same_rows_never_deadlock(migrated_database):
    # Given 60 running tasks
    ids = [await insert("queued") for _ in range(60)]
    async with shared_database().transaction() as connection:
        await attempts.claim_many(connection=connection, task_ids=ids, lease=LEASE, history=50)

    # When published marks (of submits and replays), lease renewals and claims hit them at
    # once, each listing the rows in its own order (locking in list order would deadlock)
    async def mark(order: list[uuid.UUID]) -> None:
        await mark_published([Publish(task_id, 0) for task_id in order])

    async def renew(order: list[uuid.UUID]) -> None:
        async with new_session() as session:
            await attempts.renew_leases(
                session=session, attempts=[(task_id, 1) for task_id in order], lease=LEASE
            )
            await session.commit()

    async def claim(order: list[uuid.UUID]) -> None:
        async with shared_database().connection() as connection:
            await attempts.claim_many(
                connection=connection, task_ids=order, lease=LEASE, history=50
            )

    rounds = []
    for seed in range(6):
        order = random.Random(seed).sample(ids, len(ids))
        rounds += [mark(order), renew(order[::-1]), claim(order)]
    outcomes = await asyncio.gather(*rounds, return_exceptions=True)

    # Then every statement went through (no deadlock aborted one)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []


async def test_a_claim_marks_its_task_published_and_the_api_mark_leaves_it_alone(
    migrated_database,
):
    # Given a queued task a worker claimed before the API marked it published, and one
    # no worker has claimed yet
    claimed, waiting = await insert("queued"), await insert("queued")
    async with shared_database().connection() as connection:
        await attempts.claim_many(
            connection=connection, task_ids=[claimed], lease=LEASE, history=50
        )

    # When the API marks both published
    await mark_published([Publish(claimed, 0), Publish(waiting, 0)])

    # Then the claim's mark stands (no second row version), and the waiting one is marked
    async with new_session() as session:
        rows = dict(
            (
                await session.execute(
                    text(
                        "SELECT id, published_at = started_at AS by_claim FROM tasks "
                        "WHERE id IN (:claimed, :waiting) AND published_at IS NOT NULL"
                    ),
                    {"claimed": claimed, "waiting": waiting},
                )
            ).all()
        )
    assert rows == {claimed: True, waiting: False}


async def test_a_late_mark_of_a_first_publish_leaves_a_task_replayed_since_unpublished(
    migrated_database,
):
    # Given a task whose first publish was confirmed, and which died and was replayed (so
    # it is unpublished again, its replay's message not confirmed) before the mark came
    task_id = await insert("queued")
    async with new_session() as session:
        await session.execute(
            text("UPDATE tasks SET replays = 1, published_at = NULL WHERE id = :id"),
            {"id": task_id},
        )
        await session.commit()

    # When the mark of the first publish arrives late
    await mark_published([Publish(task_id, 0)])

    # Then the task stays unpublished, for the relay to send; the replay's own mark counts
    async def published() -> bool:
        async with new_session() as session:
            found = await session.scalar(
                text("SELECT published_at IS NOT NULL FROM tasks WHERE id = :id"),
                {"id": task_id},
            )
        return bool(found)

    assert not await published()
    await mark_published([Publish(task_id, 1)])
    assert await published()
