"""PostgreSQL restarted while tasks flow: the API answers 503 with Retry-After (never a 500,
never a 202 it cannot keep), workers hand work back instead of dead-lettering it, and every
accepted task runs."""

import asyncio
import time

import httpx
import pytest

from tests.chaos.stack import Load, Stack, api_answers, free_port, verify
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


async def test_database_restart_loses_no_accepted_task(stack: Stack, report):
    # Given tasks being submitted and run steadily
    started = time.monotonic()
    load = Load(stack, concurrency=8)
    submitting = asyncio.create_task(
        load.submit_until_stopped({"name": "count", "payload": {"seconds": 0.01}})
    )
    try:
        await load.accepted_at_least(150, what="submits before the restart")

        # When PostgreSQL restarts under the load
        await services.restart_postgresql()
        await load.accepted_at_least(
            len(load.accepted) + 150, what="submits accepted after the restart"
        )
    finally:
        load.stop()
        await submitting

    # Then the API only ever answered 202 or 503 (the load asserts it), and every accepted
    # task succeeded exactly once
    assert set(load.statuses) <= {202, 503}, load.statuses
    assert load.timeouts == 0, f"{load.timeouts} submit(s) went unanswered"
    result = await verify(
        "PostgreSQL restarted mid-stream", load.accepted, started=started, timeout=120
    )
    report.append(result)


async def test_api_answers_503_with_retry_after_while_database_is_unreachable():
    # Given an API whose database does not answer (nothing listens on its port)
    stack = Stack(workers=0, env={"DB_PORT": str(free_port())})
    stack.api = processes.api(port=stack.port, env=stack.process_env()).start()
    try:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=stack.url, timeout=10) as http:
            await wait_for(lambda: api_answers(http), timeout=30, what="the API to answer")
            # When a client submits a task
            response = await http.post("/api/v1/queue/", json={"name": "echo"})
            ready = await http.get("/ready")

        # Then it is told to come back, not handed a 500 or a 202 nobody recorded
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert "database is unavailable" in response.json()["detail"]
        assert ready.status_code == 503
        assert ready.json()["database"] is False
    finally:
        stack.stop()
        await stack.delete_queues()
