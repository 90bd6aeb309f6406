"""Talking to the API the way a client does: submit tasks, wait for them, read listings."""

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.waiting import wait_for

SUBMIT = "/api/v1/queue/"
RESULTS = "/api/v1/result/"
DEAD_LETTERS = "/api/v1/dead-letter/"
TERMINAL = frozenset({"succeeded", "dead", "cancelled"})

# Where the in-process API answers (a name in the test settings' ALLOWED_HOSTS).
IN_PROCESS_URL = "http://taskgate.test"
# How long one task may take from submit to a terminal state on a healthy local stack.
TASK_TIMEOUT = 20.0
# Submits sent at once when a test needs many tasks.
SUBMIT_CHUNK = 50


def in_process_client(
    app: FastAPI, headers: Mapping[str, str] | None = None, *, base_url: str = IN_PROCESS_URL
) -> httpx.AsyncClient:
    """An HTTP client of `app` running in this process, sending `headers` (an API key, say)
    with every request."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers
    )


def marker() -> str:
    """A value no other test uses, to recognise this test's rows in shared listings."""
    return uuid.uuid4().hex


async def submit(
    client: httpx.AsyncClient, name: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Submit a task and return the 202 answer's body."""
    body: dict[str, Any] = {"name": name}
    if payload is not None:
        body["payload"] = payload
    response = await client.post(SUBMIT, json=body)
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    return task


async def submit_many(
    client: httpx.AsyncClient, submissions: Sequence[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Submit tasks concurrently, SUBMIT_CHUNK at a time; answers in submission order."""
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(submissions), SUBMIT_CHUNK):
        chunk = submissions[start : start + SUBMIT_CHUNK]
        tasks.extend(
            await asyncio.gather(*(submit(client, name, payload) for name, payload in chunk))
        )
    return tasks


async def get_task(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """`GET /api/v1/result/{id}`, which must answer 200."""
    response = await client.get(f"{RESULTS}{task_id}")
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def wait_terminal(
    client: httpx.AsyncClient, task_id: str, *, timeout: float = TASK_TIMEOUT
) -> dict[str, Any]:
    """Poll the task until it has succeeded or died; return it."""

    async def finished() -> dict[str, Any] | None:
        task = await get_task(client, task_id)
        return task if task["status"] in TERMINAL else None

    return await wait_for(finished, timeout=timeout, what=f"task {task_id} to finish")


async def wait_status(
    client: httpx.AsyncClient, task_id: str, status: str, *, timeout: float = TASK_TIMEOUT
) -> dict[str, Any]:
    """Poll the task until it is in `status`; return it."""

    async def reached() -> dict[str, Any] | None:
        task = await get_task(client, task_id)
        return task if task["status"] == status else None

    return await wait_for(reached, timeout=timeout, what=f"task {task_id} to be {status}")


async def wait_all_terminal(
    client: httpx.AsyncClient, task_ids: Iterable[str], *, timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll every task until each has succeeded or died; return them by id."""
    pending = set(task_ids)
    finished: dict[str, dict[str, Any]] = {}

    async def all_finished() -> bool:
        ids = sorted(pending)
        for start in range(0, len(ids), SUBMIT_CHUNK):
            chunk = ids[start : start + SUBMIT_CHUNK]
            for task in await asyncio.gather(*(get_task(client, i) for i in chunk)):
                if task["status"] in TERMINAL:
                    finished[task["id"]] = task
                    pending.discard(task["id"])
        return not pending

    await wait_for(
        all_finished, timeout=timeout, interval=0.2, what=f"{len(pending)} tasks to finish"
    )
    return finished


async def list_all(
    client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every item of a paginated listing, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 1000, **(params or {})}
    while True:
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


async def listed_ids(
    client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None
) -> set[str]:
    """The ids of every item of a paginated listing."""
    return {item["id"] for item in await list_all(client, path, params)}


def error_locations(response: httpx.Response) -> list[list[Any]]:
    """The `loc` of each item of a 422 answer's `detail`."""
    return [item["loc"] for item in response.json()["detail"]]


async def wait_recorded(
    client: httpx.AsyncClient, task_id: str, *, timeout: float = TASK_TIMEOUT
) -> dict[str, Any]:
    """Poll until a task that may not exist yet (a message's record) exists and has
    finished; return it."""

    async def finished() -> dict[str, Any] | None:
        response = await client.get(f"{RESULTS}{task_id}")
        if response.status_code != 200:
            return None
        task: dict[str, Any] = response.json()
        return task if task["status"] in TERMINAL else None

    return await wait_for(finished, timeout=timeout, what=f"task {task_id} to be recorded")
