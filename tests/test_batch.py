"""Batches: up to 1,000 tasks in one request, recorded all together or not at all."""

import uuid

import pytest

from tests.chaos.stack import wait_settled
from tests.support.api import wait_all_terminal

pytestmark = pytest.mark.integration

BATCH = "/api/v1/queue/batch"


async def _tasks_marked(client, marker: str) -> list[dict]:
    response = await client.get("/api/v1/result/", params={"limit": 1000})
    return [task for task in response.json()["items"] if task["payload"].get("marker") == marker]


async def test_batch_is_recorded_in_order_and_every_task_runs(client, worker):
    # Given three echo tasks
    marker = str(uuid.uuid4())
    tasks = [{"name": "echo", "payload": {"marker": marker, "n": n}} for n in range(3)]

    # When they are submitted as one batch
    response = await client.post(BATCH, json={"tasks": tasks})

    # Then all are accepted, answered in the order given, and each runs
    assert response.status_code == 202, response.text
    items = response.json()["items"]
    assert [item["payload"]["n"] for item in items] == [0, 1, 2]
    assert all(item["status"] == "queued" for item in items)
    finished = await wait_all_terminal(client, [item["id"] for item in items], timeout=30)
    assert {task["status"] for task in finished.values()} == {"succeeded"}


async def test_batch_with_invalid_tasks_names_each_by_index_and_records_none(client):
    # Given a batch whose second task names no handler and whose third breaks its payload
    marker = str(uuid.uuid4())
    tasks = [
        {"name": "echo", "payload": {"marker": marker}},
        {"name": "no-such-handler", "payload": {"marker": marker}},
        {"name": "sleep", "payload": {"seconds": 99}},
    ]

    # When it is submitted
    response = await client.post(BATCH, json={"tasks": tasks})

    # Then it is refused, naming each invalid task by its index
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "tasks", 1, "name"] in locations
    assert ["body", "tasks", 2, "payload", "seconds"] in locations
    assert len(locations) == 2
    # And not even the valid task was recorded
    assert await _tasks_marked(client, marker) == []


async def test_batch_with_a_malformed_task_is_refused_with_its_index(client):
    response = await client.post(BATCH, json={"tasks": [{"name": "echo"}, {"name": 5}]})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tasks", 1, "name"]


@pytest.mark.parametrize("size", [0, 1001])
async def test_batch_size_must_be_between_1_and_1000(client, size):
    response = await client.post(BATCH, json={"tasks": [{"name": "echo"}] * size})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tasks"]


async def test_batch_of_1000_tasks_is_accepted_with_distinct_ids(client, worker):
    # Given the largest batch allowed
    marker = str(uuid.uuid4())
    tasks = [{"name": "echo", "payload": {"marker": marker, "n": n}} for n in range(1000)]

    # When it is submitted
    response = await client.post(BATCH, json={"tasks": tasks})

    # Then every task is accepted with an id of its own, and all of them run
    assert response.status_code == 202, response.text
    ids = [item["id"] for item in response.json()["items"]]
    assert len(set(ids)) == 1000
    states = await wait_settled(ids, timeout=90)
    assert set(states.values()) == {"succeeded"}
