"""Cancelling: a waiting task never runs; a running one is stopped by its worker."""

import uuid

import pytest
from sqlalchemy import text

from tests.support.api import SUBMIT, TASK_TIMEOUT, get_task, wait_status, wait_terminal
from tests.support.database import new_session

pytestmark = pytest.mark.integration


def cancel_path(task_id: str) -> str:
    return f"{SUBMIT}{task_id}/cancel"


async def submit_ok(client, body: dict) -> dict:
    response = await client.post(SUBMIT, json=body)
    assert response.status_code == 202, response.text
    task: dict = response.json()
    return task


async def test_a_scheduled_task_is_cancelled_at_once_and_a_second_cancel_is_a_409(client):
    # Given a task scheduled for tomorrow
    task = await submit_ok(client, {"name": "echo", "delay_seconds": 86400})

    # When it is cancelled, then cancelled again
    first = await client.post(cancel_path(task["id"]))
    second = await client.post(cancel_path(task["id"]))

    # Then the first cancels it for good, and the second says it had finished
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "cancelled"
    assert first.json()["finished_at"] is not None
    assert second.status_code == 409
    assert "cancelled already" in second.json()["detail"]
    assert (await get_task(client, task["id"]))["status"] == "cancelled"


async def test_a_queued_task_cancelled_before_a_worker_takes_it_never_runs(
    client, start_queue_worker
):
    # Given a task queued in `reports`, where no worker consumes yet
    task = await submit_ok(client, {"name": "report"})

    # When it is cancelled, then a worker for `reports` starts and runs a later task
    response = await client.post(cancel_path(task["id"]))
    await start_queue_worker("reports")
    later = await submit_ok(client, {"name": "report"})
    await wait_terminal(client, later["id"], timeout=TASK_TIMEOUT)

    # Then the cancelled one was taken off the queue without running
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    cancelled = await get_task(client, task["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["attempts"] == 0 and cancelled["started_at"] is None


async def test_a_finished_task_cannot_be_cancelled(client, worker):
    # Given a task that succeeded
    task = await submit_ok(client, {"name": "echo", "payload": {"n": 1}})
    await wait_terminal(client, task["id"], timeout=TASK_TIMEOUT)

    # When it is cancelled
    response = await client.post(cancel_path(task["id"]))

    # Then the answer says why not
    assert response.status_code == 409
    assert response.json()["status"] == "succeeded"
    assert "succeeded already" in response.json()["detail"]


async def test_cancelling_an_unknown_task_is_a_404_and_a_malformed_id_a_422(client):
    missing = await client.post(cancel_path(str(uuid.uuid4())))
    malformed = await client.post(cancel_path("not-a-uuid"))

    assert missing.status_code == 404 and "no task with id" in missing.json()["detail"]
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "task_id"]


async def test_a_running_async_task_is_stopped_by_the_cancel_signal(client, start_queue_worker):
    # Given a worker whose lease renewals (the fallback) come only every 100 s, running a
    # task that would sleep for a minute
    await start_queue_worker("reports", TASK_LEASE_SECONDS="300")
    task = await submit_ok(client, {"name": "nap", "payload": {"seconds": 60}, "queue": "reports"})
    await wait_status(client, task["id"], "running", timeout=TASK_TIMEOUT)

    # When it is cancelled
    response = await client.post(cancel_path(task["id"]))

    # Then the API asked its worker to stop it, and the worker did, long before the minute
    assert response.status_code == 202, response.text
    assert response.json()["cancel_requested_at"] is not None
    finished = await wait_terminal(client, task["id"], timeout=TASK_TIMEOUT)
    assert finished["status"] == "cancelled"
    assert finished["result"] is None
    assert "cancelled on request" in finished["error"]


async def test_a_running_task_whose_signal_went_astray_stops_at_the_next_lease_renewal(
    client, start_queue_worker
):
    # Given a worker renewing leases every half second, running a long task
    await start_queue_worker("reports", TASK_LEASE_SECONDS="1.5")
    task = await submit_ok(client, {"name": "nap", "payload": {"seconds": 60}, "queue": "reports"})
    await wait_status(client, task["id"], "running", timeout=TASK_TIMEOUT)

    # When a cancel request is recorded without any signal being sent
    async with new_session() as session:
        await session.execute(
            text("UPDATE tasks SET cancel_requested_at = now() WHERE id = :id"),
            {"id": task["id"]},
        )
        await session.commit()

    # Then the worker stops it all the same
    finished = await wait_terminal(client, task["id"], timeout=TASK_TIMEOUT)
    assert finished["status"] == "cancelled"


async def test_a_running_sync_task_ends_cancelled_though_its_thread_runs_on(
    client, start_queue_worker
):
    # Given a sync handler running in a worker thread
    await start_queue_worker("reports", TASK_LEASE_SECONDS="300")
    body = {"name": "nap_sync", "payload": {"seconds": 3}, "queue": "reports"}
    task = await submit_ok(client, body)
    await wait_status(client, task["id"], "running", timeout=TASK_TIMEOUT)

    # When it is cancelled
    response = await client.post(cancel_path(task["id"]))

    # Then it ends cancelled, with no result
    assert response.status_code == 202, response.text
    finished = await wait_terminal(client, task["id"], timeout=TASK_TIMEOUT)
    assert finished["status"] == "cancelled" and finished["result"] is None
