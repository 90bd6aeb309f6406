"""SIGTERM: a worker stops taking messages, finishes what it runs within the grace period,
and hands back what would outlast it."""

import asyncio
import time

import httpx
import pytest

from tests.chaos.stack import Stack, counter, task_states, wait_settled
from tests.support.settings import AUTH_HEADERS
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(120)]

GRACE_SECONDS = 4


async def test_sigterm_finishes_in_flight_tasks_and_hands_back_the_rest(migrated_database):
    stack = Stack(workers=1, env={"WORKER_GRACE_SECONDS": str(GRACE_SECONDS)})
    try:
        await stack.start()
        first = stack.worker_processes[0]
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=stack.url, timeout=10) as http:
            # Given one worker running three short tasks and one that outlasts the grace period
            short = [await _submit(http, seconds=1.5) for _ in range(3)]
            long = await _submit(http, seconds=GRACE_SECONDS + 4)
            ids = [*short, long]
            await wait_for(
                lambda: _all_running(ids), timeout=20, what="the four tasks to be running"
            )
            second = await stack.start_worker()

            # When the first worker is sent SIGTERM
            first.signal(15)
            stopped = time.monotonic()
            await asyncio.to_thread(first.popen.wait, GRACE_SECONDS + 10)

            # Then it exits within its grace period, having finished the short tasks itself
            assert time.monotonic() - stopped < GRACE_SECONDS + 3
            states = await wait_settled(ids, timeout=40)
            assert set(states.values()) == {"succeeded"}
            results = {i: (await http.get(f"/api/v1/result/{i}")).json()["result"] for i in ids}
        assert all(results[i]["pid"] == first.pid for i in short), results
        # And the long task was handed back and finished by the other worker, once
        assert results[long]["pid"] == second.pid, results
        completions = await counter("test_task_completions", ids)
        assert all(completions[i] == 1 for i in ids), completions
    finally:
        stack.stop()
        await stack.delete_queues()


async def _submit(http: httpx.AsyncClient, *, seconds: float) -> str:
    response = await http.post(
        "/api/v1/queue/", json={"name": "count", "payload": {"seconds": seconds}}
    )
    assert response.status_code == 202
    return str(response.json()["id"])


async def _all_running(ids: list[str]) -> bool:
    states = await task_states(ids)
    return len(states) == len(ids) and all(s == "running" for s in states.values())
