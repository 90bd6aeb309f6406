"""A worker killed with SIGKILL mid-task loses nothing and runs nothing twice in effect."""

import asyncio
import time

import pytest

from tests.chaos.stack import Load, Stack, task_states, verify

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(240)]

TASKS = 2000


async def test_sigkilled_workers_lose_no_task_and_complete_none_twice(stack: Stack, report):
    # Given 2,000 short tasks flowing through two workers
    started = time.monotonic()
    load = Load(stack)
    submitting = asyncio.create_task(
        load.submit(TASKS, {"name": "count", "payload": {"seconds": 0.02}})
    )

    # When each worker in turn is killed with SIGKILL while tasks run, and replaced
    for victim in list(stack.worker_processes):
        await _wait_for_progress(load, at_least=len(load.accepted) // 2 + 200)
        victim.kill()
        await stack.start_worker()
    await submitting

    # Then every accepted task succeeded, and completed exactly once
    result = await verify(
        "worker SIGKILL x2, 2 workers", load.accepted, started=started, timeout=150
    )
    report.append(result)
    assert result.accepted == TASKS


async def _wait_for_progress(load: Load, *, at_least: int) -> None:
    """Until `at_least` tasks have succeeded, so the kill lands mid-stream."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = await task_states(load.accepted[:at_least])
        done = sum(1 for s in states.values() if s == "succeeded")
        if done >= min(at_least, len(load.accepted)) // 2 and len(load.accepted) >= at_least:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("tasks made no progress before the kill")
