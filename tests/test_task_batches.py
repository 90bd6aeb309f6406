"""Tasks accepted together travel together: one message per named queue and priority band,
each task in it run and recorded on its own."""

import json
import uuid

import pytest
from sqlalchemy import text

from config import names
from publishers.topology import Band
from tests.support import rabbit
from tests.support.api import (
    SUBMIT,
    marker,
    submit,
    wait_recorded,
    wait_terminal,
)
from tests.support.database import new_session
from tests.support.settings import SETTINGS, TENANT

pytestmark = pytest.mark.integration

BATCH_HEADER = {names.HEADER_TASK_BATCH: True}


async def test_a_batch_travels_as_one_message_per_priority_band(client, ordering_queue):
    # Given a batch of three low-priority tasks and two high-priority ones
    tasks = [{"name": "ordered", "priority": 0}] * 3 + [{"name": "ordered", "priority": 9}] * 2

    # When it is submitted
    response = await client.post(f"{SUBMIT}batch", json={"tasks": tasks})
    assert response.status_code == 202, response.text
    ids = [item["id"] for item in response.json()["items"]]

    # Then each band's queue holds one message, marked as a batch, carrying its tasks
    low = await rabbit.take_messages(rabbit.band_queue(ordering_queue, Band.LOW))
    high = await rabbit.take_messages(rabbit.band_queue(ordering_queue, Band.HIGH))
    assert [len(low), len(high)] == [1, 1]
    for message, expected in ((low[0], ids[:3]), (high[0], ids[3:])):
        assert message.headers.get(names.HEADER_TASK_BATCH) is True
        assert [task["id"] for task in json.loads(message.body)["tasks"]] == expected


async def test_a_batch_larger_than_the_message_limit_is_split(client, ordering_queue):
    # Given more tasks of one band than one message may carry
    count = names.TASK_BATCH_LIMIT + 1
    tasks = [{"name": "ordered", "priority": 0}] * count

    # When they are submitted as one batch
    response = await client.post(f"{SUBMIT}batch", json={"tasks": tasks})
    assert response.status_code == 202, response.text

    # Then they travel as a full batch and a lone task, every task exactly once
    messages = await rabbit.take_messages(rabbit.band_queue(ordering_queue, Band.LOW))
    bodies = [json.loads(message.body) for message in messages]
    assert sorted(len(body.get("tasks", [body])) for body in bodies) == [1, count - 1]
    carried = [task["id"] for body in bodies for task in body.get("tasks", [body])]
    assert sorted(carried) == sorted(item["id"] for item in response.json()["items"])


async def test_a_redelivered_batch_runs_what_is_left_and_skips_what_finished(client, worker_log):
    # Given a task that already succeeded, and one recorded as queued whose message was lost
    done = await submit(client, "echo", {"marker": marker()})
    done = await wait_terminal(client, done["id"])
    waiting_id = uuid.uuid4()
    async with new_session() as session:
        await session.execute(
            text(
                "INSERT INTO tasks (id, tenant, name, status, payload, published_at) "
                "VALUES (:id, :tenant, 'echo', 'queued', CAST(:payload AS jsonb), now())"
            ),
            {"id": waiting_id, "tenant": TENANT, "payload": json.dumps({"n": 7})},
        )
        await session.commit()

    # When a batch message carrying both reaches a worker (as a redelivery would)
    body = json.dumps(
        {
            "tasks": [
                {"id": done["id"], "name": "echo", "payload": done["payload"]},
                {"id": str(waiting_id), "name": "echo", "payload": {"n": 7}},
            ]
        }
    ).encode()
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_exchange,
        rabbit.DEFAULT_ROUTE,
        body,
        "application/json",
        headers=BATCH_HEADER,
    )

    # Then the waiting one runs, and the finished one is left as it was
    ran = await wait_terminal(client, str(waiting_id))
    assert (ran["status"], ran["result"]) == ("succeeded", {"n": 7})
    again = (await client.get(f"/api/v1/result/{done['id']}")).json()
    assert (again["status"], again["attempts"]) == ("succeeded", done["attempts"])


async def test_a_batch_breaking_the_contract_is_recorded_dead_naming_the_task_and_field(
    operator_client, worker_log
):
    # Given a batch message whose first task has a name that is not a string
    task_id = str(uuid.uuid4())
    body = json.dumps({"tasks": [{"id": task_id, "name": 5}]})

    # When a worker takes it
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_exchange,
        rabbit.DEFAULT_ROUTE,
        body.encode(),
        "application/json",
        headers=BATCH_HEADER,
    )

    # Then its task is recorded dead, the reason naming the task's index and field
    task = await wait_recorded(operator_client, task_id)
    assert task["status"] == "dead"
    assert "does not match the task contract" in task["error"]
    assert "tasks.0.name" in task["error"]


async def test_a_dead_lettered_batch_records_each_of_its_tasks(operator_client, worker_log):
    # Given a batch message RabbitMQ dead-lettered (its delivery limit ran out, say)
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    reason = f"delivery limit {marker()}"
    body = json.dumps({"tasks": [{"id": task_id, "name": "echo"} for task_id in ids]})

    # When it reaches the dead-letter queue
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_dead_letter_exchange,
        SETTINGS.rmq_queue_routing_key_dead_letter,
        body.encode(),
        "application/json",
        headers={names.HEADER_DEAD_REASON: reason},
    )

    # Then each of its tasks is recorded dead, with the reason
    for task_id in ids:
        task = await wait_recorded(operator_client, task_id)
        assert (task["status"], task["error"]) == ("dead", reason)
