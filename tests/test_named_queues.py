"""Named queues: handlers and submits choose a queue; workers consume a chosen subset."""

import pytest

from publishers.topology import Band
from tests.support import rabbit
from tests.support.api import SUBMIT, TASK_TIMEOUT, submit, wait_terminal

pytestmark = pytest.mark.integration


async def test_a_worker_started_for_one_queue_runs_its_tasks_and_only_its_tasks(
    client, worker, start_queue_worker
):
    # Given the default worker, and a worker started for the `reports` queue only
    reports_worker = await start_queue_worker("reports")

    # When a `report` task (its handler names `reports`) is submitted
    task = await submit(client, "report")
    finished = await wait_terminal(client, task["id"], timeout=TASK_TIMEOUT)

    # Then the reports worker ran it, and each worker consumes only its own queue's bands
    assert finished["queue"] == "reports"
    assert finished["result"] == {"pid": reports_worker.pid}
    for band in Band:
        assert await rabbit.consumer_count(rabbit.band_queue("reports", band)) == 1
        assert await rabbit.consumer_count(rabbit.band_queue("default", band)) == 1


async def test_a_submit_can_send_a_task_to_another_known_queue(client, worker, start_queue_worker):
    # Given a worker for `reports`
    reports_worker = await start_queue_worker("reports")

    # When a `nap` task (a `default` handler) is submitted to `reports`
    response = await client.post(SUBMIT, json={"name": "nap", "queue": "reports"})
    assert response.status_code == 202, response.text
    finished = await wait_terminal(client, response.json()["id"], timeout=TASK_TIMEOUT)

    # Then it ran on the reports worker
    assert finished["queue"] == "reports"
    assert finished["result"] == {"pid": reports_worker.pid}


async def test_an_unknown_queue_is_a_422_listing_the_known_ones(client):
    # Given a queue nobody declared
    # When a task is submitted to it
    response = await client.post(SUBMIT, json={"name": "echo", "queue": "nowhere"})

    # Then the answer names the field and lists the known queues
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "queue"]
    assert {"default", "reports", "ordering"} <= set(detail["known"])
    assert "nowhere" in detail["msg"]


async def test_a_queue_name_that_cannot_be_one_is_a_422(client):
    # Given a queue name with a dot and capitals
    # When a task is submitted to it
    response = await client.post(SUBMIT, json={"name": "echo", "queue": "Bad.Name"})

    # Then the answer names the field
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "queue"]


async def test_handlers_list_their_queue(client):
    # Given the handlers
    # When they are listed
    handlers = {h["name"]: h for h in (await client.get("/api/v1/handlers")).json()}

    # Then each names its queue
    assert handlers["report"]["queue"] == "reports"
    assert handlers["echo"]["queue"] == "default"


async def test_queue_stats_show_broker_depth_consumers_and_task_counts(client, worker):
    # Given a task waiting far in the future in the default queue
    response = await client.post(SUBMIT, json={"name": "echo", "delay_seconds": 3600})
    assert response.status_code == 202

    # When the queues are listed
    response = await client.get("/api/v1/queue/")

    # Then each known queue shows its bands as RabbitMQ sees them, and its tasks by status
    assert response.status_code == 200, response.text
    queues = {queue["name"]: queue for queue in response.json()["queues"]}
    assert {"default", "reports", "ordering"} <= set(queues)
    default = queues["default"]
    assert [band["band"] for band in default["bands"]] == ["high", "normal", "low"]
    assert default["consumers"] == 3  # the default worker, one consumer per band
    assert default["tasks"]["scheduled"] >= 1
    assert set(default["tasks"]) >= {"queued", "running", "succeeded", "dead", "cancelled"}
