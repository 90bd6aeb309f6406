"""Priorities: a high-priority task submitted behind thousands of low ones starts first."""

import pytest
from sqlalchemy import text

from tests.support.api import SUBMIT, TASK_TIMEOUT, wait_terminal
from tests.support.database import new_session

pytestmark = pytest.mark.integration

LOW_TASKS = 5_000
BATCH = 1_000
# Tasks the priority worker runs at once: at most this many low ones can have taken a slot
# before the high one's message arrived.
SLOTS = 4


async def test_a_high_priority_task_starts_before_5000_low_ones(
    client, ordering_queue, start_queue_worker
):
    # Given 5,000 low-priority tasks waiting, then one high-priority task behind them
    for _ in range(LOW_TASKS // BATCH):
        low = [{"name": "ordered", "payload": {"seconds": 0.01}, "priority": 0}] * BATCH
        response = await client.post(f"{SUBMIT}batch", json={"tasks": low}, timeout=60)
        assert response.status_code == 202, response.text
    response = await client.post(SUBMIT, json={"name": "ordered", "priority": 9})
    assert response.status_code == 202, response.text
    high = response.json()

    # When a worker for that queue starts
    await start_queue_worker(
        ordering_queue, WORKER_CONCURRENCY=str(SLOTS), WORKER_PREFETCH=str(SLOTS)
    )
    finished = await wait_terminal(client, high["id"], timeout=TASK_TIMEOUT)

    # Then the high one ran, and at most the worker's slots of low ones started before it
    assert finished["status"] == "succeeded", finished
    async with new_session() as session:
        started_before = await session.scalar(
            text(
                "SELECT count(*) FROM tasks WHERE queue = 'ordering' AND priority = 0 "
                "AND started_at < (SELECT started_at FROM tasks WHERE id = :id)"
            ),
            {"id": high["id"]},
        )
    assert started_before <= SLOTS, f"{started_before} low-priority tasks started first"


async def test_priority_outside_0_to_9_is_a_422_naming_the_field(client):
    # Given a priority of 10
    # When it is submitted
    response = await client.post(SUBMIT, json={"name": "echo", "priority": 10})

    # Then the answer names the field and the range
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "priority"]
    assert "less than or equal to 9" in detail["msg"]
