"""Idempotency keys: a repeat returns the first task, a reuse for something else is refused."""

import asyncio
import uuid

import pytest

from tests.chaos.stack import counter
from tests.support.api import wait_terminal

pytestmark = pytest.mark.integration

SUBMIT = "/api/v1/queue/"


def _key() -> str:
    return f"key-{uuid.uuid4()}"


async def test_repeat_with_the_same_key_and_body_returns_the_first_task(client):
    # Given a task submitted with an Idempotency-Key header
    key = _key()
    body = {"name": "echo", "payload": {"n": 1}}
    first = await client.post(SUBMIT, json=body, headers={"Idempotency-Key": key})

    # When the same request is sent again
    again = await client.post(SUBMIT, json=body, headers={"Idempotency-Key": key})

    # Then the first is 202, the repeat 200, and both name the same task
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


async def test_key_in_the_body_works_like_the_header(client):
    key = _key()
    body = {"name": "echo", "payload": {"n": 2}, "idempotency_key": key}
    first = await client.post(SUBMIT, json=body)
    again = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": 2}}, headers={"Idempotency-Key": key}
    )

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]


async def test_reusing_a_key_for_a_different_body_is_a_conflict(client):
    # Given a key already used for one request
    key = _key()
    first = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": 1}}, headers={"Idempotency-Key": key}
    )

    # When it is sent with another payload
    other = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": 2}}, headers={"Idempotency-Key": key}
    )

    # Then it is refused with 409, naming the task the key belongs to
    assert other.status_code == 409
    assert key in other.json()["detail"]
    assert other.json()["conflicts"][0]["task_id"] == first.json()["id"]


async def test_header_and_body_keys_that_differ_are_refused(client):
    response = await client.post(
        SUBMIT,
        json={"name": "echo", "idempotency_key": _key()},
        headers={"Idempotency-Key": _key()},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_twenty_concurrent_submits_with_one_key_make_one_task(client, worker):
    # Given twenty clients sending the same request with the same key at once
    key = _key()
    body = {"name": "count", "payload": {}}

    # When they all submit concurrently
    responses = await asyncio.gather(
        *(client.post(SUBMIT, json=body, headers={"Idempotency-Key": key}) for _ in range(20))
    )

    # Then exactly one created the task and every answer names it
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 19 + [202]
    ids = {response.json()["id"] for response in responses}
    assert len(ids) == 1
    # And the task runs once

    task = await wait_terminal(client, ids.pop())
    assert task["status"] == "succeeded"
    assert await counter("test_task_completions", [task["id"]]) == {task["id"]: 1}


async def test_batch_items_with_keys_seen_before_return_the_first_tasks(client):
    # Given a task submitted with a key
    key = _key()
    first = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": 7}}, headers={"Idempotency-Key": key}
    )

    # When a batch repeats it beside a new task
    batch = await client.post(
        "/api/v1/queue/batch",
        json={
            "tasks": [
                {"name": "echo", "payload": {"n": 7}, "idempotency_key": key},
                {"name": "echo", "payload": {"n": 8}},
            ]
        },
    )

    # Then the repeated item is the first task and the new one a new task, each item saying
    # which it is
    assert batch.status_code == 202
    items = batch.json()["items"]
    assert items[0]["id"] == first.json()["id"]
    assert items[1]["id"] != first.json()["id"]
    assert [item["created"] for item in items] == [False, True]


async def test_a_key_repeated_within_a_batch_makes_one_task(client):
    # Given a batch in which two items carry the same key and request, and one carries none
    key = _key()
    keyed = {"name": "echo", "payload": {"n": 9}, "idempotency_key": key}
    tasks = [keyed, {"name": "echo", "payload": {"n": 10}}, keyed]

    # When it is submitted
    batch = await client.post("/api/v1/queue/batch", json={"tasks": tasks})

    # Then the keyed items stand for one task, made by the first of them
    assert batch.status_code == 202, batch.text
    items = batch.json()["items"]
    assert items[0]["id"] == items[2]["id"] != items[1]["id"]
    assert [item["created"] for item in items] == [True, True, False]


async def test_batch_reusing_a_key_for_something_else_records_nothing(client):
    key = _key()
    await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": 1}}, headers={"Idempotency-Key": key}
    )
    fresh_key = _key()

    batch = await client.post(
        "/api/v1/queue/batch",
        json={
            "tasks": [
                {"name": "echo", "payload": {"n": 2}, "idempotency_key": fresh_key},
                {"name": "echo", "payload": {"n": 3}, "idempotency_key": key},
            ]
        },
    )

    assert batch.status_code == 409
    assert batch.json()["conflicts"][0]["index"] == 1
    # The valid item was rolled back with the rest: its key is still free for its own body
    retry = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"n": 2}}, headers={"Idempotency-Key": fresh_key}
    )
    assert retry.status_code == 202
