"""Schedules as the tests make them: over the API, each removed after its test (a schedule
left behind would go on making tasks in every later test's processes)."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from tests.support.api import RESULTS, list_all, marker
from tests.support.database import new_session

SCHEDULES = "/api/v1/schedules"

MakeSchedule = Callable[..., Awaitable[dict[str, Any]]]


def schedule_body(**fields: Any) -> dict[str, Any]:
    """A schedule of an echo task an hour apart (nothing makes its task meanwhile), with
    `fields` on top."""
    timing = {} if {"cron", "interval_seconds"} & set(fields) else {"interval_seconds": 3600}
    return {
        "name": f"test-{marker()[:8]}",
        **timing,
        "task": {"name": "echo", "payload": {"note": marker()}},
        **fields,
    }


@asynccontextmanager
async def schedule_maker(default: httpx.AsyncClient) -> AsyncIterator[MakeSchedule]:
    """Make schedules (with `default`'s key, or another client's); all deleted at the end."""
    made: list[str] = []

    async def make(http: httpx.AsyncClient | None = None, **fields: Any) -> dict[str, Any]:
        response = await (http or default).post(SCHEDULES, json=schedule_body(**fields))
        assert response.status_code == 201, response.text
        schedule: dict[str, Any] = response.json()
        made.append(schedule["id"])
        return schedule

    try:
        yield make
    finally:
        await forget_schedules(made)


async def forget_schedules(ids: list[str]) -> None:
    """Delete the schedules behind the API's back (whoever's they are)."""
    if ids:
        async with new_session() as session:
            await session.execute(
                text("DELETE FROM schedules WHERE id = ANY(:ids)"),
                {"ids": [uuid.UUID(i) for i in ids]},
            )
            await session.commit()


async def tasks_of(
    http: httpx.AsyncClient, schedule_id: str, **params: Any
) -> list[dict[str, Any]]:
    """Every task the schedule made, as the API lists them (newest first)."""
    return await list_all(http, RESULTS, {"schedule_id": schedule_id, **params})


async def tick_keys(schedule_id: str) -> list[str]:
    """The idempotency keys of the schedule's tasks, oldest first."""
    async with new_session() as session:
        rows = await session.execute(
            text(
                "SELECT idempotency_key FROM tasks WHERE schedule_id = :id ORDER BY created_at, id"
            ),
            {"id": uuid.UUID(schedule_id)},
        )
        return [row[0] for row in rows]


async def set_next_run(schedule_id: str, ago: timedelta) -> datetime:
    """Move the schedule's next tick `ago` into the past, as if
    every process had been down since; the moment it was set to."""
    async with new_session() as session:
        moment = await session.scalar(
            text(
                "UPDATE schedules SET next_run_at = now() - CAST(:ago AS interval) "
                "WHERE id = :id RETURNING next_run_at"
            ),
            {"id": uuid.UUID(schedule_id), "ago": ago},
        )
        await session.commit()
    assert moment is not None
    return moment
