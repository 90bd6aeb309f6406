"""A delayed task lives in PostgreSQL, so no worker restart can lose it."""

import httpx
import pytest

from tests.chaos.stack import Stack, wait_settled
from tests.support.settings import AUTH_HEADERS

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(120)]


async def test_delayed_task_survives_a_worker_restart(migrated_database):
    stack = Stack(workers=1)
    try:
        await stack.start()
        # Given a task delayed by 3 s
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=stack.url, timeout=10) as http:
            response = await http.post("/api/v1/queue/", json={"name": "count", "delay_seconds": 3})
        task_id = response.json()["id"]

        # When the only worker stops while it waits, and another starts later
        stack.worker_processes[0].stop()
        await stack.start_worker()

        # Then the task runs, once
        states = await wait_settled([task_id], timeout=30)
        assert states == {task_id: "succeeded"}
    finally:
        stack.stop()
        await stack.delete_queues()
