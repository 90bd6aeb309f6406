"""Submitting tasks over HTTP and reading their results, with a real worker running them."""

from datetime import datetime
from uuid import UUID

import pytest

from tests.support.api import (
    RESULTS,
    get_task,
    listed_ids,
    marker,
    submit,
    wait_status,
    wait_terminal,
)

pytestmark = pytest.mark.integration


async def test_submit_answers_with_the_queued_task_resource(client, worker_log):
    # Given an echo task
    payload = {"marker": marker(), "nested": {"n": [1, 2, 3]}}

    # When it is submitted
    response = await client.post("/api/v1/queue/", json={"name": "echo", "payload": payload})

    # Then the answer is 202 with the task as recorded, before any worker touched it
    assert response.status_code == 202
    task = response.json()
    assert str(UUID(task["id"])) == task["id"]
    # A time-ordered UUIDv7 (the primary key grows at its right edge)
    assert UUID(task["id"]).version == 7
    assert task["name"] == "echo"
    assert task["status"] == "queued"
    assert task["payload"] == payload
    assert task["result"] is None
    assert task["error"] is None
    assert task["attempts"] == 0
    assert datetime.fromisoformat(task["created_at"]).tzinfo is not None
    assert task["started_at"] is None
    assert task["finished_at"] is None
    await wait_terminal(client, task["id"])


async def test_echo_task_succeeds_with_payload_as_result(client, worker_log):
    # Given a submitted echo task
    payload = {"marker": marker(), "numbers": [1, 2.5], "flag": True, "nothing": None}
    submitted = await submit(client, "echo", payload)

    # When the worker has run it
    task = await wait_terminal(client, submitted["id"])

    # Then it succeeded, once, with its payload as the result
    assert task["status"] == "succeeded"
    assert task["result"] == payload
    assert task["error"] is None
    assert task["attempts"] == 1


async def test_finished_task_records_when_it_started_and_finished(client, worker_log):
    # Given an echo task that has run
    submitted = await submit(client, "echo", {"marker": marker()})

    # When it has finished
    task = await wait_terminal(client, submitted["id"])

    # Then it was created, started and finished in that order
    created = datetime.fromisoformat(task["created_at"])
    started = datetime.fromisoformat(task["started_at"])
    finished = datetime.fromisoformat(task["finished_at"])
    assert created <= started <= finished


async def test_result_url_returns_the_submitted_task(client):
    # Given a submitted task
    submitted = await submit(client, "echo", {"marker": marker()})

    # When it is read back by its id
    task = await get_task(client, submitted["id"])

    # Then it is the same task
    assert task["id"] == submitted["id"]
    assert task["name"] == "echo"
    assert task["payload"] == submitted["payload"]
    assert task["created_at"] == submitted["created_at"]


async def test_submitted_task_appears_in_the_results_listing(client, worker_log):
    # Given a task that has run
    submitted = await submit(client, "echo", {"marker": marker()})
    await wait_terminal(client, submitted["id"])

    # When the results are listed
    ids = await listed_ids(client, RESULTS)

    # Then the task is among them
    assert submitted["id"] in ids


async def test_sleep_task_with_short_duration_succeeds(client, worker_log):
    # Given a sleep task of 0.2 s
    submitted = await submit(client, "sleep", {"seconds": 0.2})

    # When the worker has run it
    task = await wait_terminal(client, submitted["id"])

    # Then it succeeded and reports how long it slept
    assert task["status"] == "succeeded"
    assert task["result"] == {"slept": 0.2}


async def test_sleep_task_with_empty_payload_gets_the_default_duration(client, worker_log):
    # Given a sleep task submitted with an empty payload
    submitted = await submit(client, "sleep", {})

    # When the API answers, then the recorded payload carries the default of one second
    assert submitted["payload"] == {"seconds": 1.0}

    # And the worker sleeps that long
    task = await wait_terminal(client, submitted["id"])
    assert task["status"] == "succeeded"
    assert task["result"] == {"slept": 1.0}


async def test_empty_submission_runs_emulate_with_the_default_failure_rate(client, worker_log):
    # Given a submission that names neither a handler nor a payload
    response = await client.post("/api/v1/queue/", json={})

    # When the API answers, then the task is an emulate task at the default rate
    assert response.status_code == 202
    submitted = response.json()
    assert submitted["name"] == "emulate"
    assert submitted["payload"] == {"failure_rate": 0.2}
    task = await wait_terminal(client, submitted["id"])
    assert task["status"] in {"succeeded", "dead"}


async def test_running_task_is_listed_in_the_main_queue_only(client, worker_log):
    # Given a task that a worker is running
    submitted = await submit(client, "sleep", {"seconds": 3})
    await wait_status(client, submitted["id"], "running")

    # When the queues are viewed
    by_number = await listed_ids(client, "/api/v1/queue/1")
    by_name = await listed_ids(client, "/api/v1/queue/main")
    dead = await listed_ids(client, "/api/v1/queue/2")

    # Then the task is in the main queue, by number and by name, and not in the dead one
    assert submitted["id"] in by_number
    assert submitted["id"] in by_name
    assert submitted["id"] not in dead
    await wait_terminal(client, submitted["id"])


async def test_finished_task_leaves_the_main_queue(client, worker_log):
    # Given a task that has succeeded
    submitted = await submit(client, "echo", {"marker": marker()})
    await wait_terminal(client, submitted["id"])

    # When the queues are viewed
    main = await listed_ids(client, "/api/v1/queue/1")
    dead = await listed_ids(client, "/api/v1/queue/2")

    # Then it is in neither
    assert submitted["id"] not in main
    assert submitted["id"] not in dead
