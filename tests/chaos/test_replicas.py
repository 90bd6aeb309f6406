"""Two API and two worker processes, each running every background job (the outbox relay
and its release of scheduled tasks, the retention sweep; the workers' lease keepers) at
once: every job still acts once per task."""

import json
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from publishers.topology import Band
from tests.chaos.stack import Load, Report, Stack, counter, verify
from tests.support import processes, rabbit
from tests.support.database import new_session
from tests.support.settings import TENANT
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(90)]

PLAIN_TASKS = 240
DELAYS = (1, 2, 3)
DELAYED_PER_DELAY = 20
OWED_TASKS = 100
EXPIRED_TASKS = 1500
# Long enough that no task this module runs expires: only the backdated rows do.
KEPT_SECONDS = 600
REPLICA_ENV = {
    "RETENTION_SUCCEEDED_SECONDS": str(KEPT_SECONDS),
    "RETENTION_DEAD_SECONDS": str(2 * KEPT_SECONDS),
    "RETENTION_INTERVAL_SECONDS": "0.2",
    # Small batches, so that every process's sweep finds work while the others sweep too.
    "RETENTION_BATCH_SIZE": "5",
    "OUTBOX_INTERVAL_SECONDS": "0.2",
    # A publish left unconfirmed this long is sent again (at least once, by design): far
    # above what a confirm takes on a busy machine, so that each owed publish happens once.
    "PUBLISH_TIMEOUT_SECONDS": "5",
    # Workers consume `default` only: what is published to `reports` stays there, counted.
    "TASKGATE_WORKER_QUEUES": "default",
}


@pytest.fixture(scope="module")
async def replicas(migrated_database: None) -> AsyncIterator[Stack]:
    """Two API processes and two workers on queues of their own."""
    async for running in Stack(apis=2, workers=2, env=REPLICA_ENV).running():
        yield running


async def test_tasks_submitted_to_both_apis_run_once_and_delayed_ones_not_early(
    replicas: Stack, report: list[Report]
) -> None:
    # Given tasks submitted to each API in turn, some of them delayed by 1-3 s
    started = time.monotonic()
    plain = Load(replicas, concurrency=16)
    await plain.submit(PLAIN_TASKS, {"name": "count", "payload": {"seconds": 0.01}})
    delayed: list[str] = []
    for delay in DELAYS:
        load = Load(replicas, concurrency=4)
        await load.submit(DELAYED_PER_DELAY, {"name": "count", "delay_seconds": delay})
        delayed += load.accepted
    assert len(plain.accepted_by) == 2, plain.accepted_by

    # Then every one succeeded and completed once
    result = await verify(
        "2 APIs, 2 workers", plain.accepted + delayed, started=started, timeout=60
    )
    report.append(result)
    # And no delayed one started before its time (released by one relay of four)
    async with new_session() as session:
        early = await session.scalar(
            text(
                "SELECT count(*) FROM tasks WHERE id = ANY(CAST(:ids AS uuid[])) "
                "AND (started_at < run_at OR run_at IS NULL)"
            ),
            {"ids": delayed},
        )
    assert early == 0


async def test_owed_tasks_are_published_once_by_the_four_relays(replicas: Stack) -> None:
    # Given tasks recorded but never published: some of the default queue (consumed), as
    # many of `reports` (which no worker consumes, so each message stays to be counted)
    owed = await _record_unpublished("count", "default", OWED_TASKS)
    uncounted = await _record_unpublished("report", "reports", OWED_TASKS)
    started = time.monotonic()

    # When the relays of both APIs and both workers have sent what is owed
    await verify("owed tasks relayed", owed, started=started, timeout=30)
    await wait_for(lambda: _all_published(uncounted), timeout=30, what="every owed publish")

    # Then each task's message was sent once, and each default one ran once
    sent = [task_id for band in Band for task_id in await _messages_in(replicas, "reports", band)]
    twice = {task_id: n for task_id, n in Counter(sent).items() if n > 1}
    assert not twice and set(sent) == set(uncounted), (twice, set(uncounted) ^ set(sent))
    starts = await counter("test_task_starts", owed)
    assert all(starts.get(task_id) == 1 for task_id in owed), starts
    await _delete_tasks(uncounted)


async def test_retention_sweeps_of_every_process_delete_only_the_expired(replicas: Stack) -> None:
    # Given finished tasks past their retention, and others still within theirs
    expired = [
        *await _record_finished("succeeded", EXPIRED_TASKS, finished_ago=2 * KEPT_SECONDS),
        *await _record_finished("cancelled", 100, finished_ago=2 * KEPT_SECONDS),
    ]
    kept = [
        *await _record_finished("succeeded", 100, finished_ago=KEPT_SECONDS // 2),
        *await _record_finished("dead", 100, finished_ago=KEPT_SECONDS + 60),
    ]

    # When the sweeps of both APIs and both workers run at once
    async def expired_gone() -> bool:
        return not await _existing(expired)

    await wait_for(expired_gone, timeout=30, what="the expired tasks to be deleted")

    # Then every expired task is gone, no other, and the sweeps deleted each once in all
    assert sorted(await _existing(kept)) == sorted(kept)
    deleted = {p.pid: _swept(p.log()) for p in _every_process(replicas)}
    assert sum(deleted.values()) == len(expired), deleted
    # And every process took its share: the sweeps really ran side by side
    assert all(deleted.values()), deleted
    await _delete_tasks(kept)


async def test_no_process_logged_an_error(replicas: Stack) -> None:
    # Given the tests above ran against these processes
    for process in _every_process(replicas):
        # Then none logged an error, a traceback, a deadlock or a background job that failed
        assert process.alive(), process.log()[-3000:]
        assert _troubles(process) == [], process.name


def _every_process(stack: Stack) -> list[processes.Process]:
    return [*stack.api_processes, *stack.worker_processes]


async def _record_unpublished(name: str, queue: str, count: int) -> list[str]:
    """Insert tasks as the API records them, left unpublished (as when the broker did not
    confirm, or the API died after its commit); their ids."""
    async with new_session() as session:
        ids = await session.scalars(
            text(
                "INSERT INTO tasks (id, name, queue, status, tenant) "
                "SELECT gen_random_uuid(), :name, :queue, 'queued', :tenant "
                "FROM generate_series(1, :count) RETURNING id::text"
            ),
            {"name": name, "queue": queue, "tenant": TENANT, "count": count},
        )
        made = list(ids)
        await session.commit()
    return made


async def _record_finished(status: str, count: int, *, finished_ago: int) -> list[str]:
    """Insert tasks that finished `finished_ago` seconds ago; their ids."""
    async with new_session() as session:
        ids = await session.scalars(
            text(
                "INSERT INTO tasks (id, name, status, tenant, published_at, finished_at) "
                "SELECT gen_random_uuid(), 'count', :status, :tenant, now(), "
                "now() - make_interval(secs => :ago) "
                "FROM generate_series(1, :count) RETURNING id::text"
            ),
            {"status": status, "tenant": TENANT, "count": count, "ago": finished_ago},
        )
        made = list(ids)
        await session.commit()
    return made


async def _all_published(ids: list[str]) -> bool:
    async with new_session() as session:
        left = await session.scalar(
            text(
                "SELECT count(*) FROM tasks WHERE id = ANY(CAST(:ids AS uuid[])) "
                "AND published_at IS NULL"
            ),
            {"ids": ids},
        )
    return bool(left == 0)


async def _existing(ids: list[str]) -> list[str]:
    async with new_session() as session:
        found = await session.scalars(
            text("SELECT id::text FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        )
        return list(found)


async def _delete_tasks(ids: list[str]) -> None:
    async with new_session() as session:
        await session.execute(
            text("DELETE FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        )
        await session.commit()


async def _messages_in(stack: Stack, queue: str, band: Band) -> list[str]:
    """Task ids of the messages waiting in one band of a named queue (taken out of it)."""
    ids = []
    band_queue = rabbit.band_queue(queue, band, base=stack.queue)
    for message in await rabbit.take_messages(band_queue, limit=10 * OWED_TASKS):
        body = json.loads(message.body)
        ids += [task["id"] for task in body.get("tasks", [body])]
    return ids


def _swept(log: str) -> int:
    """How many tasks a process's retention sweeps say they deleted."""
    return sum(
        int(record["message"].split()[3])
        for record in _records(log)
        if record.get("message", "").startswith("retention sweep deleted ")
    )


def _troubles(process: processes.Process) -> list[str]:
    """Lines telling of an error: ERROR records, tracebacks, deadlocks, failed jobs."""
    signs = ("Traceback", "deadlock", "could not run", "could not renew", "could not publish")
    return [
        line
        for line in process.log().splitlines()
        if any(sign in line for sign in signs)
        or any(r.get("level") in ("ERROR", "CRITICAL") for r in _records(line))
    ]


def _records(log: str) -> list[dict[str, str]]:
    """The JSON log records among a log's lines."""
    records = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
