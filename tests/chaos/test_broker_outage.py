"""RabbitMQ stopped: the API keeps accepting (the outbox holds the tasks), and once it is
back the API and the workers reconnect by themselves and every task runs."""

import asyncio
import time

import httpx
import pytest

from tests.chaos.stack import SUBMIT_TIMEOUT, Load, Stack, api_answers, verify
from tests.support import processes, services
from tests.support.settings import AUTH_HEADERS
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.exclusive,
    pytest.mark.integration,
    pytest.mark.timeout(240),
    services.needs_service_control,
]

TASK = {"name": "count", "payload": {"seconds": 0.01}}


async def test_broker_stopped_while_submitting_loses_nothing(stack: Stack, report):
    # Given tasks being submitted steadily
    started = time.monotonic()
    load = Load(stack, concurrency=8)
    submitting = asyncio.create_task(load.submit_until_stopped(TASK))
    try:
        await load.accepted_at_least(150, what="submits before the outage")

        # When RabbitMQ stops (submits made while it stops may still be published), stays
        # down while 100 more submits are answered, then starts again
        await services.stop_rabbitmq()
        try:
            await load.accepted_at_least(
                len(load.accepted) + 100, what="submits accepted while RabbitMQ is down"
            )
        finally:
            await services.start_rabbitmq()
        await load.accepted_at_least(
            len(load.accepted) + 100, what="submits accepted after RabbitMQ is back"
        )
    finally:
        load.stop()
        await submitting

    # Then every submit was answered in time and accepted, and every accepted task ran once
    assert load.timeouts == 0, f"{load.timeouts} submit(s) went unanswered for {SUBMIT_TIMEOUT} s"
    assert load.statuses == {202: len(load.accepted)}, load.statuses
    result = await verify(
        "RabbitMQ stopped mid-stream", load.accepted, started=started, timeout=120
    )
    report.append(result)


async def test_tasks_submitted_while_broker_is_down_all_run_when_it_returns(stack: Stack, report):
    # Given RabbitMQ is stopped
    started = time.monotonic()
    await services.stop_rabbitmq()
    try:
        # When 200 tasks are submitted
        load = Load(stack, concurrency=16)
        await load.submit(200, TASK)
        # Then every one was accepted at once
        assert load.statuses == {202: 200}
        assert load.timeouts == 0
    finally:
        await services.start_rabbitmq()

    # And all of them succeed once RabbitMQ is back
    result = await verify(
        "200 submitted while RabbitMQ down", load.accepted, started=started, timeout=120
    )
    report.append(result)


async def test_api_started_while_broker_is_down_accepts_and_delivers_once_it_returns(
    migrated_database,
):
    # Given RabbitMQ is down when the API starts
    stack = Stack(workers=0)
    await services.stop_rabbitmq()
    try:
        stack.api = processes.api(port=stack.port, env=stack.process_env()).start()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=stack.url, timeout=10) as http:
            await wait_for(lambda: api_answers(http), timeout=30, what="the API to answer")
            # When a task is submitted
            response = await http.post("/api/v1/queue/", json={"name": "echo", "payload": {"n": 1}})
            ready = await http.get("/ready")
            # Then it is accepted, while readiness says the broker is missing
            assert response.status_code == 202, response.text
            assert ready.status_code == 503 and ready.json()["broker"] is False
            await services.start_rabbitmq()
            # And once RabbitMQ is back and a worker runs, the task runs
            await stack.start_worker()
            task_id = response.json()["id"]
            task = await wait_for(
                lambda: _succeeded(http, task_id), timeout=60, what="the task to succeed"
            )
        assert task["result"] == {"n": 1}
    finally:
        await services.start_rabbitmq()
        stack.stop()
        await stack.delete_queues()


async def _succeeded(http: httpx.AsyncClient, task_id: str) -> dict | None:
    task = (await http.get(f"/api/v1/result/{task_id}")).json()
    return task if task["status"] == "succeeded" else None
