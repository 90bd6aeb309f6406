"""Limits where input arrives, each answered with a clear 4xx: body size, Host, payload
depth and size, attempts, batch size, rate per key, unfinished tasks per tenant."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from db.models import Role
from services.keys import create_key
from tests.chaos.stack import api_answers, free_port
from tests.support import processes
from tests.support.api import RESULTS, SUBMIT, error_locations, in_process_client, marker
from tests.support.database import new_session
from tests.support.settings import settings_with
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

LATER = {"name": "echo", "delay_seconds": 3600}


SMALL_LIMITS = {
    "tenant_max_unfinished": 3,
    "max_batch_size": 3,
    "max_attempts_limit": 5,
    "max_payload_depth": 4,
    "max_payload_bytes": 200,
}
SMALL_RATE = {"rate_limit_per_second": 5, "rate_limit_burst": 5}


@pytest.fixture
async def limited(request) -> AsyncIterator[tuple[FastAPI, str]]:
    """An API with small limits (SMALL_LIMITS, or the test's `limits` mark), and a fresh
    write key of a tenant of its own (a bucket and a count of its own)."""
    mark = request.node.get_closest_marker("limits")
    app = create_app(settings_with(**(mark.args[0] if mark else SMALL_LIMITS)))
    async with new_session() as session:
        made = await create_key(session=session, tenant=f"lim-{marker()[:8]}", role=Role.WRITE)
    async with app.router.lifespan_context(app):
        yield app, made.key


def client_of(app: FastAPI, key: str, **headers: str) -> httpx.AsyncClient:
    return in_process_client(app, {"Authorization": f"Bearer {key}", **headers})


async def test_a_body_over_the_limit_is_413_before_it_is_read(client):
    # Given a body of just over 1 MiB, declared and chunked
    body = b"x" * (1024 * 1024 + 1)

    async def chunks():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    for content in (body, chunks()):
        response = await client.post(SUBMIT, content=content)
        # Then the answer is 413, saying the limit and its setting
        assert response.status_code == 413, response.text
        assert "MAX_REQUEST_BYTES" in response.json()["detail"]


async def test_a_request_for_another_host_is_refused(client):
    response = await client.get(RESULTS, headers={"Host": "evil.example"})
    assert response.status_code == 400, response.text
    assert "ALLOWED_HOSTS" in response.json()["detail"]


async def test_payload_depth_size_and_attempts_beyond_the_limits_are_422(limited):
    app, key = limited
    deep: dict = {}
    node = deep
    for _ in range(6):
        node["x"] = {}
        node = node["x"]
    cases = [
        ({"name": "echo", "payload": deep}, "MAX_PAYLOAD_DEPTH", ["body", "payload", "x"]),
        ({"name": "echo", "payload": {"s": "y" * 300}}, "MAX_PAYLOAD_BYTES", ["body", "payload"]),
        ({"name": "echo", "max_attempts": 6}, "MAX_ATTEMPTS_LIMIT", ["body", "max_attempts"]),
    ]
    async with client_of(app, key) as http:
        for body, setting, loc in cases:
            response = await http.post(SUBMIT, json=body)
            assert response.status_code == 422, response.text
            detail = response.json()["detail"][0]
            assert setting in detail["msg"], detail
            assert detail["loc"][: len(loc)] == loc, detail


async def test_a_batch_beyond_the_limit_is_422(limited):
    app, key = limited
    async with client_of(app, key) as http:
        response = await http.post(f"{SUBMIT}batch", json={"tasks": [LATER] * 4})
    assert response.status_code == 422, response.text
    assert error_locations(response) == [["body", "tasks"]]
    assert "MAX_BATCH_SIZE" in response.json()["detail"][0]["msg"]


@pytest.mark.limits(SMALL_RATE)
async def test_a_key_over_its_rate_gets_429_with_retry_after_then_recovers(limited):
    # Given a key allowed 5 requests a second, 5 at once
    app, key = limited
    async with client_of(app, key) as http:
        # When it sends 8 at once
        started = time.monotonic()
        responses = await asyncio.gather(*(http.get(RESULTS) for _ in range(8)))
        elapsed = time.monotonic() - started

        # Then 5 pass (and one more for each fifth of a second the 8 took, on a busy
        # machine) and the rest are refused, saying when to come back
        statuses = sorted(response.status_code for response in responses)
        passed = statuses.count(200)
        assert 5 <= passed <= min(7, 5 + int(elapsed * 5)), (statuses, elapsed)
        assert statuses == [200] * passed + [429] * (8 - passed), statuses
        refused = next(response for response in responses if response.status_code == 429)
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        assert "RATE_LIMIT_PER_SECOND" in refused.json()["detail"]

        # And once that time has passed, it is served again
        await asyncio.sleep(retry_after)
        assert (await http.get(RESULTS)).status_code == 200


@pytest.mark.limits(SMALL_RATE)
async def test_the_rate_is_the_keys_across_api_processes(limited, migrated_database):
    # Given a second API process with the same limits, and one key used on both
    app, key = limited
    port = free_port()
    env = {name.upper(): str(value) for name, value in SMALL_RATE.items()}
    second = processes.api(port=port, env=env).start()
    try:
        async with (
            client_of(app, key) as here,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            ) as there,
        ):
            await wait_for(lambda: api_answers(there), timeout=30, what="the second API")

            # When both are sent requests as fast as they answer, for a second
            started, passed = time.monotonic(), 0
            while time.monotonic() - started < 1.0:
                for http in (here, there):
                    passed += (await http.get(RESULTS)).status_code == 200
            elapsed = time.monotonic() - started
    finally:
        second.stop()

    # Then together they let through the bucket's burst and its rate, not twice that (each
    # process may hold one unspent batch: one token, at 5 per second)
    assert 5 <= passed <= 5 + 5 * elapsed + 2, (passed, elapsed)


async def test_a_tenant_at_its_unfinished_limit_gets_429_until_one_finishes(limited):
    # Given a tenant allowed 3 unfinished tasks, with 3 waiting
    app, key = limited
    async with client_of(app, key) as http:
        ids = []
        for _ in range(3):
            response = await http.post(SUBMIT, json=LATER)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])

        # When it submits another, alone or in a batch
        refused = await http.post(SUBMIT, json=LATER)
        batch = await http.post(f"{SUBMIT}batch", json={"tasks": [LATER]})

        # Then both are refused with 429, saying the limit
        for response in (refused, batch):
            assert response.status_code == 429, response.text
            assert "TENANT_MAX_UNFINISHED" in response.json()["detail"]
            assert int(response.headers["Retry-After"]) > 0

        # And once one has finished (cancelled), a submit is accepted again
        assert (await http.post(f"{SUBMIT}{ids[0]}/cancel")).status_code == 200
        accepted = await http.post(SUBMIT, json=LATER)
        assert accepted.status_code == 202, accepted.text


async def test_stored_error_text_is_cut_to_the_limit(client, worker_log):
    # Given a task failing with a 20,000-character message
    long = "e" * 20_000
    response = await client.post(
        SUBMIT, json={"name": "fail", "payload": {"message": long}, "max_attempts": 1}
    )
    task_id = response.json()["id"]

    # When it has died, its error and traceback are kept to their limits, saying so
    async def dead() -> dict | None:
        task = (await client.get(f"/api/v1/dead-letter/{task_id}")).json()
        return task if task.get("status") == "dead" else None

    task = await wait_for(dead, timeout=20, what="the task to die")
    assert len(task["error"]) <= 4000 and task["error"].endswith("characters cut]")
    assert len(task["traceback"]) <= 16_000
    assert len(task["errors"][-1]["error"]) <= 4000


async def test_unknown_json_nesting_past_the_parser_is_a_4xx(client):
    # A body nested far deeper than any limit: refused, never a 500
    body = "[" * 100_000 + "]" * 100_000
    response = await client.post(
        SUBMIT, content=body.encode(), headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
