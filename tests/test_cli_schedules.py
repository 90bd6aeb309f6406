"""`taskgate schedules` over HTTP: the console script against a real API process; every
outcome is read back from the API, every failure is one line."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.api import marker
from tests.support.cli import Ran, api_process, taskgate
from tests.support.schedules import SCHEDULES, forget_schedules, tasks_of
from tests.support.settings import AUTH_HEADERS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def api_url(migrated_database: None, clean_broker: None) -> AsyncIterator[str]:
    """A real API process, for the command to talk to."""
    async with api_process() as url:
        yield url


@pytest.fixture(scope="module")
async def direct(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same API, read directly: what the command did, as the API tells it."""
    async with httpx.AsyncClient(base_url=api_url, headers=AUTH_HEADERS, timeout=10) as http:
        yield http


@pytest.fixture
async def made() -> AsyncIterator[list[str]]:
    """Ids of the schedules a test made; deleted after it."""
    ids: list[str] = []
    yield ids
    await forget_schedules(ids)


async def cli(api_url: str, *args: str, **options: Any) -> Ran:
    return await taskgate("schedules", *args, url=api_url, **options)


async def schedule_of(direct: httpx.AsyncClient, schedule_id: str) -> dict[str, Any]:
    response = await direct.get(f"{SCHEDULES}/{schedule_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_schedule_is_made_listed_shown_paused_resumed_triggered_and_removed(
    api_url, direct, made
):
    note, name = marker(), f"nightly-{marker()[:8]}"

    # When a schedule is made with a cron expression in a time zone
    created = await cli(
        api_url, "create", name, "--task", "echo", "--cron", "0 3 * * *",
        "--timezone", "Europe/Berlin", "--payload", json.dumps({"note": note}),
        "--priority", "7", "--catch-up", "none", "--json",
    )  # fmt: skip

    # Then the API holds it as given
    assert created.code == 0, created.err
    schedule_id = created.json()["id"]
    made.append(schedule_id)
    recorded = await schedule_of(direct, schedule_id)
    assert (recorded["name"], recorded["cron"], recorded["timezone"]) == (
        name, "0 3 * * *", "Europe/Berlin",
    )  # fmt: skip
    assert recorded["task"] == {"name": "echo", "payload": {"note": note}, "queue": None,
                                "priority": 7}  # fmt: skip
    assert recorded["catch_up"] == "none"

    # And ls and show show it, for people and for scripts
    listed = await cli(api_url, "ls")
    assert listed.code == 0 and schedule_id in listed.out and "cron 0 3 * * *" in listed.out
    assert schedule_id in {
        item["id"] for item in (await cli(api_url, "ls", "--json")).json()["items"]
    }
    shown = await cli(api_url, "show", schedule_id)
    assert shown.code == 0 and name in shown.out and note in shown.out and "never" in shown.out
    assert (await cli(api_url, "show", schedule_id, "--json")).json() == recorded

    # When it is paused, then resumed
    paused = await cli(api_url, "pause", schedule_id)
    assert paused.code == 0 and f"paused schedule {schedule_id}" in paused.out
    assert (await schedule_of(direct, schedule_id))["next_run_at"] is None
    resumed = await cli(api_url, "resume", schedule_id)
    assert resumed.code == 0 and "next run" in resumed.out
    assert (await schedule_of(direct, schedule_id))["next_run_at"] is not None

    # When it is triggered, the task it made is the schedule's
    triggered = await cli(api_url, "trigger", schedule_id, "--json")
    assert triggered.code == 0, triggered.err
    assert [task["id"] for task in await tasks_of(direct, schedule_id)] == [triggered.json()["id"]]

    # When it is removed, it is gone, and saying so again is one line
    removed = await cli(api_url, "rm", schedule_id)
    assert removed.code == 0 and f"deleted schedule {schedule_id}" in removed.out
    assert (await direct.get(f"{SCHEDULES}/{schedule_id}")).status_code == 404
    again = await cli(api_url, "rm", schedule_id)
    assert again.code == 1 and f"no schedule with id {schedule_id}" in again.error_line()


async def test_an_interval_schedule_says_when_it_runs(api_url, direct, made):
    created = await cli(api_url, "create", f"often-{marker()[:8]}", "--task", "echo",
                        "--every", "3600", "--paused")  # fmt: skip

    assert created.code == 0, created.err
    assert "every 3600 s" in created.out and "paused" in created.out
    schedule_id = created.out.split()[2]
    made.append(schedule_id)
    recorded = await schedule_of(direct, schedule_id)
    assert (recorded["interval_seconds"], recorded["paused"]) == (3600, True)


async def test_wrong_input_is_one_line_naming_what_is_wrong(api_url):
    name = f"bad-{marker()[:8]}"

    neither = await cli(api_url, "create", name, "--task", "echo")
    bad_cron = await cli(api_url, "create", name, "--task", "echo", "--cron", "61 * * * *")
    bad_zone = await cli(api_url, "create", name, "--task", "echo", "--every", "60",
                         "--timezone", "Mars/Olympus")  # fmt: skip
    bad_task = await cli(api_url, "create", name, "--task", "no-such-handler", "--every", "60")
    unknown = await cli(api_url, "show", str(uuid.uuid4()))

    assert neither.code == 2 and "--cron" in neither.error_line()
    assert bad_cron.code == 1 and "cron:" in bad_cron.error_line()
    assert "five fields" in bad_cron.error_line()
    assert bad_zone.code == 1 and "timezone:" in bad_zone.error_line()
    assert bad_task.code == 1 and "task.name:" in bad_task.error_line()
    assert unknown.code == 1 and "no schedule with id" in unknown.error_line()
