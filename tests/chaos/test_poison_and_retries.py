"""Poison messages are dead-lettered with the reason while the worker keeps consuming;
failing tasks are retried with backoff, then dead-lettered with their history."""

import json
import uuid
from datetime import datetime

import httpx
import pytest

from tests.chaos.stack import Stack, counter
from tests.support import rabbit
from tests.support.api import wait_recorded
from tests.support.dead_letters import execute_sql
from tests.support.settings import AUTH_HEADERS, OPERATOR_HEADERS, TENANT
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(120)]

# Where a worker of every stack consumes: the default queue's normal band.


async def _dead_letter_reasons(http, marker: str) -> list[str]:
    response = await http.get("/api/v1/dead-letter/", params={"limit": 1000})
    return [item["error"] for item in response.json()["items"] if marker in str(item["payload"])]


async def test_poison_messages_are_dead_lettered_with_reason_and_worker_keeps_running(
    shared_stack: Stack,
):
    marker = f"poison-{shared_stack.prefix}"
    # Given raw garbage, JSON that breaks the contract, and an unknown handler on the work queue
    bodies = [
        (f"not json at all {marker}".encode(), "application/json"),
        (f'{{"note": "{marker}"}}'.encode(), "application/json"),
        (
            f'{{"id": "not-a-uuid", "name": "echo", "payload": {{"m": "{marker}"}}}}'.encode(),
            "application/json",
        ),
        (b"\xff\xfe" + marker.encode(), "application/octet-stream"),
    ]
    for body, content_type in bodies:
        await rabbit.publish_raw(shared_stack.prefix, rabbit.DEFAULT_ROUTE, body, content_type)
    # And one that is not signed at all
    await rabbit.publish_raw(
        shared_stack.prefix,
        rabbit.DEFAULT_ROUTE,
        f'{{"forged": "{marker}"}}'.encode(),
        "application/json",
        signed=False,
    )

    async with httpx.AsyncClient(
        headers=OPERATOR_HEADERS, base_url=shared_stack.url, timeout=10
    ) as operator:
        # Then each lands in the dead-letter queue with the reason it could not be run (the
        # records belong to no tenant: an operator sees them)
        reasons = await wait_for(
            lambda: _reasons_when(operator, marker, len(bodies) + 1),
            timeout=30,
            what="dead letters",
        )
    assert any("not valid JSON" in r for r in reasons), reasons
    assert any("does not match the task contract" in r and "id" in r for r in reasons), reasons
    assert any("no valid Taskgate signature" in r for r in reasons), reasons
    async with httpx.AsyncClient(
        headers=AUTH_HEADERS, base_url=shared_stack.url, timeout=10
    ) as http:
        # And the workers are still alive and running tasks
        assert all(worker.alive() for worker in shared_stack.worker_processes)
        submitted = await http.post(
            "/api/v1/queue/", json={"name": "echo", "payload": {"after": marker}}
        )
        task_id = submitted.json()["id"]
        task = await wait_recorded(http, task_id, timeout=30)
        assert task["status"] == "succeeded"


async def test_task_of_an_unknown_handler_is_dead_lettered_with_reason(shared_stack: Stack):
    # Given a queued task whose row names a handler no worker has, and its message
    task_id = str(uuid.uuid4())
    await execute_sql(
        "INSERT INTO tasks (id, tenant, name, status) "
        "VALUES (:id, :tenant, 'no-such-handler', 'queued')",
        id=task_id,
        tenant=TENANT,
    )
    body = f'{{"id": "{task_id}", "name": "no-such-handler", "payload": {{}}}}'.encode()
    await rabbit.publish_raw(shared_stack.prefix, rabbit.DEFAULT_ROUTE, body, "application/json")
    # Then a worker buries it, naming the handler
    async with httpx.AsyncClient(
        headers=AUTH_HEADERS, base_url=shared_stack.url, timeout=10
    ) as http:
        task = await wait_recorded(http, task_id, timeout=30)
    assert task["status"] == "dead"
    assert "unknown handler 'no-such-handler'" in task["error"]


async def test_task_failing_twice_then_succeeding_ends_succeeded_on_third_attempt(
    shared_stack: Stack,
):
    async with httpx.AsyncClient(
        headers=AUTH_HEADERS, base_url=shared_stack.url, timeout=10
    ) as http:
        response = await http.post(
            "/api/v1/queue/", json={"name": "flaky", "payload": {"failures": 2}}
        )
        task = await wait_recorded(http, response.json()["id"], timeout=30)
    assert task["status"] == "succeeded"
    assert task["attempts"] == 3
    assert task["result"] == {"succeeded_on": 3}
    assert [e["attempt"] for e in task["errors"]] == [1, 2]


async def test_task_always_failing_is_dead_after_its_limit_with_backoff_between_attempts(
    shared_stack: Stack,
):
    async with httpx.AsyncClient(
        headers=AUTH_HEADERS, base_url=shared_stack.url, timeout=10
    ) as http:
        response = await http.post(
            "/api/v1/queue/", json={"name": "flaky", "payload": {"failures": 99}, "max_attempts": 3}
        )
        task = await wait_recorded(http, response.json()["id"], timeout=30)
    assert task["status"] == "dead"
    assert task["attempts"] == 3
    errors = task["errors"]
    assert [e["attempt"] for e in errors] == [1, 2, 3]
    assert all("failing on purpose" in e["error"] for e in errors)
    # Backoff 0.5 s then 1 s (no jitter for this handler): each attempt started no sooner.
    assert [e["retry_in"] for e in errors] == [0.5, 1.0, None]
    for before, after in zip(errors, errors[1:], strict=False):
        waited = _at(after["started_at"]) - _at(before["failed_at"])
        assert waited.total_seconds() >= before["retry_in"] * 0.95, (before, after)
    assert "FlakyError" in task["error"]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _reasons_when(http, marker: str, count: int) -> list[str] | None:
    reasons = await _dead_letter_reasons(http, marker)
    return reasons if len(reasons) >= count else None


async def test_duplicate_message_for_a_running_task_does_not_run_it_twice(shared_stack: Stack):
    async with httpx.AsyncClient(
        headers=AUTH_HEADERS, base_url=shared_stack.url, timeout=10
    ) as http:
        # Given a task that a worker is running now
        response = await http.post(
            "/api/v1/queue/", json={"name": "count", "payload": {"seconds": 2}}
        )
        task = response.json()
        await wait_for(lambda: _running(http, task["id"]), timeout=20, what="the task to run")

        # When a duplicate of its message reaches the other worker
        duplicate = {"id": task["id"], "name": "count", "payload": task["payload"]}
        await rabbit.publish_raw(
            shared_stack.prefix,
            rabbit.DEFAULT_ROUTE,
            json.dumps(duplicate).encode(),
            "application/json",
        )

        # Then the task succeeds, having started and completed exactly once
        finished = await wait_recorded(http, task["id"], timeout=30)
    assert finished["status"] == "succeeded"
    assert finished["attempts"] == 1
    assert await counter("test_task_starts", [task["id"]]) == {task["id"]: 1}
    assert await counter("test_task_completions", [task["id"]]) == {task["id"]: 1}


async def _running(http, task_id: str) -> bool:
    response = await http.get(f"/api/v1/result/{task_id}")
    return bool(response.json()["status"] == "running")
