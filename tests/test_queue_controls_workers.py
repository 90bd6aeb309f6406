"""Queue controls enforced by two real worker processes at once: a pause holds new tasks
and lets running ones finish; a concurrency limit, a per-key limit and a rate hold across
both workers; one key's backlog does not starve another key."""

import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from publishers.topology import Band
from tests.support import rabbit
from tests.support.api import SUBMIT, wait_status, wait_terminal
from tests.support.database import new_session
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

QUEUE = "ordering"
CONTROLS = f"/api/v1/queues/{QUEUE}"


@pytest.fixture
async def two_workers(client, ordering_queue, start_queue_worker):
    """Two worker processes consuming the `ordering` queue; its controls removed after."""
    await start_queue_worker(QUEUE)
    await start_queue_worker(QUEUE)
    yield
    async with new_session() as session:
        await session.execute(text("DELETE FROM queue_settings WHERE name = :q"), {"q": QUEUE})
        await session.commit()


async def _control(client: httpx.AsyncClient, **controls: Any) -> None:
    response = await client.patch(CONTROLS, json=controls)
    assert response.status_code == 200, response.text


async def _submit(
    client: httpx.AsyncClient, count: int, *, seconds: float, key: str | None = None
) -> list[str]:
    task = {"name": "ordered", "payload": {"seconds": seconds}, "concurrency_key": key}
    response = await client.post(f"{SUBMIT}batch", json={"tasks": [task] * count})
    assert response.status_code == 202, response.text
    return [item["id"] for item in response.json()["items"]]


async def _rows(ids: list[str]) -> list[Any]:
    async with new_session() as session:
        result = await session.execute(
            text(
                "SELECT id::text, status, held_reason, started_at, finished_at, concurrency_key "
                "FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )
        return list(result)


async def _all_succeeded(ids: list[str], timeout: float = 60) -> list[Any]:
    async def done() -> list[Any] | None:
        rows = await _rows(ids)
        return rows if all(row.status == "succeeded" for row in rows) else None

    return await wait_for(done, timeout=timeout, interval=0.2, what="every task to succeed")


def _most_at_once(rows: list[Any]) -> int:
    """The most tasks running at one moment, from when each started and finished."""
    edges = sorted(
        itertools.chain(
            ((row.started_at, 1) for row in rows), ((row.finished_at, -1) for row in rows)
        ),
        # An end and a start at the same instant do not overlap.
        key=lambda edge: (edge[0], edge[1]),
    )
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


async def test_a_paused_queue_holds_new_tasks_and_lets_running_ones_finish(client, two_workers):
    # Given a task running
    [running] = await _submit(client, 1, seconds=1.5)
    await wait_status(client, running, "running", timeout=20)

    # When the queue is paused and more tasks are submitted
    await _control(client, paused=True)
    held = await _submit(client, 6, seconds=0)

    # Then they are accepted and held, none starts; the running one finishes
    async def all_held() -> bool:
        return all(row.held_reason == "paused" for row in await _rows(held))

    await wait_for(all_held, timeout=20, what="the new tasks to be held as paused")
    assert (await wait_terminal(client, running, timeout=20))["status"] == "succeeded"
    rows = await _rows(held)
    assert all(row.status == "queued" and row.started_at is None for row in rows), rows
    # Held without a message: none waits in RabbitMQ, none was handed to a delay queue
    delays = rabbit.topology_queues([QUEUE])[len(Band) + 1 :]
    bands = [rabbit.band_queue(QUEUE, band) for band in Band]
    assert [await rabbit.message_count(queue) for queue in (*bands, *delays)] == [0] * (
        len(bands) + len(delays)
    )
    shown = (await client.get(CONTROLS)).json()
    assert shown["held"] == {"paused": 6}, shown
    task = (await client.get(f"/api/v1/result/{held[0]}")).json()
    assert task["held_reason"] == "paused" and task["status"] == "queued"

    # And a held task can be cancelled: it is held no more
    cancelled = await client.post(f"{SUBMIT}{held[0]}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["held_reason"] is None

    # And after the resume every other one runs
    await _control(client, paused=False)
    rows = await _all_succeeded(held[1:], timeout=20)
    assert all(row.held_reason is None for row in rows)
    assert (await client.get(CONTROLS)).json()["held"] == {}


async def test_a_concurrency_limit_holds_across_two_workers(client, two_workers):
    # Given a limit of 2 on the queue
    await _control(client, concurrency_limit=2)

    # When 12 tasks are submitted at once to two workers
    ids = await _submit(client, 12, seconds=0.3)

    # Then every one succeeds, never more than 2 at a time
    rows = await _all_succeeded(ids)
    assert _most_at_once(rows) <= 2, [(r.started_at, r.finished_at) for r in rows]


async def test_one_keys_backlog_does_not_starve_another_key(client, two_workers):
    # Given at most 2 tasks of one key running at once
    await _control(client, key_concurrency_limit=2)

    # When 200 tasks of key A are submitted, then 5 of key B
    a = await _submit(client, 200, seconds=0.05, key="customer-a")
    b = await _submit(client, 5, seconds=0.05, key="customer-b")

    # Then B's tasks all finish while most of A's backlog still waits
    b_rows = await _all_succeeded(b, timeout=30)
    a_rows = await _rows(a)
    unfinished = [row for row in a_rows if row.status != "succeeded"]
    assert len(unfinished) >= 100, f"only {len(unfinished)} of A's 200 tasks left"
    assert {row.held_reason for row in unfinished} >= {"key_concurrency_limit"}

    # And each key ran at most 2 at once across both workers
    a_rows = await _all_succeeded(a, timeout=60)
    assert _most_at_once(a_rows) <= 2
    assert _most_at_once(b_rows) <= 2


async def test_a_rate_limit_spreads_starts_across_two_workers(client, two_workers):
    # Given at most 4 starts a second
    await _control(client, rate_limit_per_second=4)

    # When 12 instant tasks are submitted at once
    ids = await _submit(client, 12, seconds=0)

    # Then they all succeed, their starts spread over at least 2 seconds (a full bucket
    # of 4, then 4 a second), and no second holds more than 4 + 4 of them
    rows = await _all_succeeded(ids, timeout=30)
    starts: list[datetime] = sorted(row.started_at for row in rows)
    assert starts[-1] - starts[0] >= timedelta(seconds=1.5), starts
    for first in starts:
        within = [s for s in starts if first <= s < first + timedelta(seconds=1)]
        assert len(within) <= 8, starts


async def test_another_tenants_tasks_are_not_held_by_this_tenants_pause(client, keyed, two_workers):
    # Given acme's queue paused
    await _control(client, paused=True)

    # When another tenant submits to the same queue
    other = await keyed("globex")
    response = await other.http.post(SUBMIT, json={"name": "ordered", "queue": QUEUE})
    assert response.status_code == 202, response.text

    # Then its task runs
    finished = await wait_terminal(other.http, response.json()["id"], timeout=20)
    assert finished["status"] == "succeeded", finished
