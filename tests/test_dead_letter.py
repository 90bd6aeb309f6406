"""Tasks that fail, and messages no worker can read, end in the dead-letter queue."""

import json
import uuid

import pytest

from tests.support import rabbit
from tests.support.api import (
    DEAD_LETTERS,
    TASK_TIMEOUT,
    list_all,
    listed_ids,
    marker,
    submit,
    wait_recorded,
    wait_terminal,
)
from tests.support.dead_letters import execute_sql
from tests.support.settings import SETTINGS, TENANT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


async def publish_to_work_queue(body: bytes, content_type: str = "application/json") -> None:
    """Put a signed message on the work queue without going through the API's checks (as a
    Taskgate of another version could have written it)."""
    await rabbit.publish_raw(SETTINGS.rmq_queue_exchange, rabbit.DEFAULT_ROUTE, body, content_type)


@pytest.fixture(scope="module")
async def dead_task(client, worker) -> dict:
    """A fail task with a message of its own, run until it died (once for this module)."""
    message = f"broken on purpose {marker()}"
    submitted = await submit(client, "fail", {"message": message})
    task = await wait_terminal(client, submitted["id"])
    return {**task, "message": message}


async def test_fail_task_ends_dead_with_its_message_as_error(dead_task):
    # Given a fail task with a message of its own
    # When the worker has run it (the fixture waited for it to finish)
    # Then it is dead, with the message in its error and no result
    assert dead_task["status"] == "dead"
    assert dead_task["message"] in dead_task["error"]
    assert dead_task["result"] is None
    assert dead_task["finished_at"] is not None


async def test_dead_task_is_listed_in_the_dead_letters_with_its_traceback(client, dead_task):
    # Given a fail task that has died
    # When the dead letters are listed
    dead = {item["id"]: item for item in await list_all(client, DEAD_LETTERS)}

    # Then the task is there, with the traceback of the failure
    assert dead_task["id"] in dead
    item = dead[dead_task["id"]]
    assert item["status"] == "dead"
    assert dead_task["message"] in item["error"]
    assert "Traceback" in item["traceback"]
    assert "TaskFailedError" in item["traceback"]
    assert dead_task["message"] in item["traceback"]


@pytest.mark.parametrize("queue", ["2", "dead-letter"])
async def test_dead_task_is_in_the_dead_letter_queue_view(client, dead_task, queue):
    # Given a fail task that has died
    # When the dead-letter queue is viewed, by number or by name
    ids = await listed_ids(client, f"/api/v1/queue/{queue}")

    # Then the task is in it
    assert dead_task["id"] in ids


@pytest.mark.parametrize("queue", ["1", "main"])
async def test_dead_task_is_not_in_the_main_queue_view(client, dead_task, queue):
    # Given a fail task that has died
    # When the main queue is viewed, by number or by name
    ids = await listed_ids(client, f"/api/v1/queue/{queue}")

    # Then the task is not in it
    assert dead_task["id"] not in ids


async def test_succeeded_task_is_not_in_the_dead_letters(client, worker_log):
    # Given an echo task that has succeeded
    submitted = await submit(client, "echo", {"marker": marker()})
    await wait_terminal(client, submitted["id"])

    # When the dead letters are listed
    ids = await listed_ids(client, DEAD_LETTERS)

    # Then the task is not among them
    assert submitted["id"] not in ids


async def test_message_breaking_the_task_contract_is_recorded_dead_with_the_reason(
    operator_client, worker_log
):
    # Given a message on the work queue with a valid id but a name that is not a string
    task_id = str(uuid.uuid4())
    body = json.dumps({"id": task_id, "name": 5, "payload": {}}).encode()

    # When a worker takes it
    await publish_to_work_queue(body)

    # Then the dead-letter subscriber records it as a dead task of no tenant (operators see
    # it), naming the bad field
    task = await wait_recorded(operator_client, task_id, timeout=TASK_TIMEOUT)
    assert (task["status"], task["tenant"]) == ("dead", "")
    assert "does not match the task contract" in task["error"]
    assert "name" in task["error"]


async def test_message_that_is_not_json_is_recorded_dead_with_its_body(operator_client, worker_log):
    # Given a message on the work queue whose body is not JSON
    raw = f"not json {marker()}"

    # When a worker takes it
    await publish_to_work_queue(raw.encode())

    # Then the dead-letter subscriber keeps the body as a dead task, with the reason
    task = await wait_for(
        lambda: record_of(operator_client, {"raw": raw}),
        timeout=TASK_TIMEOUT,
        what="the unreadable message's record",
    )
    assert task["status"] == "dead"
    assert "not valid JSON" in task["error"]


async def record_of(client, payload: dict) -> dict | None:
    """The dead letter whose payload this is, if it is recorded yet."""
    for item in await list_all(client, DEAD_LETTERS):
        if item["payload"] == payload:
            return item
    return None


async def test_task_whose_row_names_an_unknown_handler_is_recorded_dead(client, worker_log):
    # Given a queued task whose row names a handler no worker has (it was removed since),
    # and its message
    task_id = str(uuid.uuid4())
    retired = f"no-such-{marker()}"
    await execute_sql(
        "INSERT INTO tasks (id, tenant, name, status) VALUES (:id, :tenant, :name, 'queued')",
        id=task_id,
        tenant=TENANT,
        name=retired,
    )
    body = json.dumps({"id": task_id, "name": retired, "payload": {}}).encode()

    # When a worker takes it
    await publish_to_work_queue(body)

    # Then it is recorded dead, naming the handlers the worker knows
    task = await wait_recorded(client, task_id, timeout=TASK_TIMEOUT)
    assert task["status"] == "dead"
    assert "unknown handler" in task["error"]
    assert "echo" in task["error"]


async def test_unreadable_message_holding_a_nul_character_is_still_recorded(
    operator_client, worker_log
):
    # Given a message breaking the task contract whose payload holds a NUL character
    task_id = str(uuid.uuid4())
    body = json.dumps({"id": task_id, "name": 5, "payload": {"text": "a\u0000b"}}).encode()

    # When a worker takes it
    await publish_to_work_queue(body)

    # Then it is recorded as a dead task all the same (others are recorded within a second)
    task = await wait_recorded(operator_client, task_id, timeout=10)
    assert task["status"] == "dead"
