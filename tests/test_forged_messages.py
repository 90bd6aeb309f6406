"""Messages are trusted only from Taskgate: one without a valid signature changes no task,
whatever it claims, and is recorded as an unverified dead letter; a worker takes a task's
handler from the task's row, never from the message."""

import json
import uuid

import pytest

from tests.support import rabbit
from tests.support.api import SUBMIT, get_task, marker, submit, wait_status, wait_terminal
from tests.support.dead_letters import DEAD_LETTER, execute_sql
from tests.support.settings import SETTINGS, TENANT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

CANCEL_EXCHANGE = f"{SETTINGS.rmq_queue_exchange}.cancel"


async def scheduled(client) -> dict:
    """A task of tenant acme that waits an hour before it may run."""
    response = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": marker()}, "delay_seconds": 3600}
    )
    assert response.status_code == 202, response.text
    return response.json()


async def unverified_record(operator_client, text: str) -> dict:
    """The unverified dead letter whose raw body holds `text`, once it is recorded."""

    async def recorded() -> dict | None:
        response = await operator_client.get(DEAD_LETTER, params={"error": "unverified"})
        assert response.status_code == 200, response.text
        for item in response.json()["items"]:
            if text in item["payload"].get("raw", ""):
                return item
        return None

    return await wait_for(recorded, timeout=20, what="the unverified message's record")


async def test_forged_work_message_changes_no_task(client, operator_client, worker_log):
    # Given a task waiting for its time
    task = await scheduled(client)

    # When a message without a valid signature asks a worker to run it as another handler
    forged = {"id": task["id"], "name": "fail", "payload": {"message": "forged"}}
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_exchange,
        rabbit.DEFAULT_ROUTE,
        json.dumps(forged).encode(),
        "application/json",
        signed=False,
    )

    # Then it is recorded as an unverified dead letter of no tenant, apart from the task
    record = await unverified_record(operator_client, task["id"])
    assert record["id"] != task["id"]
    assert record["tenant"] == ""
    assert "no valid Taskgate signature" in record["error"]
    # And the task is untouched
    after = await get_task(client, task["id"])
    assert (after["status"], after["attempts"], after["error"]) == ("scheduled", 0, None)


async def test_a_signed_message_naming_another_handler_runs_the_rows_handler(client, worker_log):
    # Given a queued echo task (its row), and a message for it that names `fail`
    task_id = str(uuid.uuid4())
    payload = {"marker": marker()}
    await execute_sql(
        "INSERT INTO tasks (id, tenant, name, status, payload) "
        "VALUES (:id, :tenant, 'echo', 'queued', CAST(:payload AS jsonb))",
        id=task_id,
        tenant=TENANT,
        payload=json.dumps(payload),
    )
    message = {"id": task_id, "name": "fail", "payload": {"message": "not me"}}

    # When a worker takes the message
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_exchange,
        rabbit.DEFAULT_ROUTE,
        json.dumps(message).encode(),
        "application/json",
    )

    # Then the row's handler ran, with the row's payload
    done = await wait_terminal(client, task_id)
    assert (done["status"], done["result"]) == ("succeeded", payload)


async def test_forged_cancel_message_stops_no_task(client, operator_client, worker_log):
    # Given a task running for two seconds
    task = await submit(client, "nap", {"seconds": 2})
    await wait_status(client, task["id"], "running")

    # When a message without a valid signature tells every worker to stop it
    body = json.dumps({"id": task["id"]}).encode()
    await rabbit.publish_raw(CANCEL_EXCHANGE, "", body, "application/json", signed=False)

    # Then the task runs to its end, and the forgery is recorded as unverified
    done = await wait_terminal(client, task["id"])
    assert done["status"] == "succeeded"
    record = await unverified_record(operator_client, task["id"])
    assert record["tenant"] == ""


async def test_forged_dead_letter_kills_no_task(client, operator_client, worker_log):
    # Given a task waiting for its time
    task = await scheduled(client)

    # When a message without a valid signature reaches the dead-letter queue naming it
    body = json.dumps({"id": task["id"], "name": "echo", "payload": {}}).encode()
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_dead_letter_exchange,
        SETTINGS.rmq_queue_routing_key_dead_letter,
        body,
        "application/json",
        headers={"x-taskgate-task-id": task["id"], "x-taskgate-reason": "forged"},
        signed=False,
    )

    # Then it is recorded apart as unverified, and the task stays as it was
    record = await unverified_record(operator_client, task["id"])
    assert record["id"] != task["id"]
    assert (await get_task(client, task["id"]))["status"] == "scheduled"


async def test_a_validly_signed_dead_letter_still_marks_its_task_dead(client, worker_log):
    # Given a task waiting for its time
    task = await scheduled(client)

    # When a signed message for it reaches the dead-letter queue (as RabbitMQ dead-letters
    # Taskgate's own messages, headers kept)
    body = json.dumps({"id": task["id"], "name": "echo", "payload": {}}).encode()
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_dead_letter_exchange,
        SETTINGS.rmq_queue_routing_key_dead_letter,
        body,
        "application/json",
        headers={"x-taskgate-reason": "dead-lettered on purpose"},
    )

    # Then the task is dead with that reason
    done = await wait_terminal(client, task["id"])
    assert (done["status"], done["error"]) == ("dead", "dead-lettered on purpose")
