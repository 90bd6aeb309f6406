"""Delayed tasks wait in PostgreSQL as `scheduled`, then run once due."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.api import wait_terminal

pytestmark = pytest.mark.integration

SUBMIT = "/api/v1/queue/"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_delayed_task_is_scheduled_then_runs_no_sooner_than_its_delay(client, worker):
    # When a task is submitted with a 2 s delay
    response = await client.post(
        SUBMIT, json={"name": "echo", "payload": {"later": True}, "delay_seconds": 2}
    )

    # Then it is scheduled for then, and starts no sooner
    assert response.status_code == 202
    task = response.json()
    assert task["status"] == "scheduled"
    delay = _at(task["run_at"]) - _at(task["created_at"])
    assert timedelta(seconds=1.9) <= delay <= timedelta(seconds=2.5)
    finished = await wait_terminal(client, task["id"])
    assert finished["status"] == "succeeded"
    assert _at(finished["started_at"]) >= _at(task["run_at"])


async def test_task_with_run_at_in_the_past_runs_at_once(client, worker):
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    response = await client.post(SUBMIT, json={"name": "echo", "run_at": past})

    assert response.json()["status"] == "queued"
    assert (await wait_terminal(client, response.json()["id"]))["status"] == "succeeded"


async def test_task_delayed_by_days_is_kept_scheduled_in_the_main_queue(client):
    # Given a task to run in three days
    run_at = datetime.now(UTC) + timedelta(days=3)
    response = await client.post(SUBMIT, json={"name": "echo", "run_at": run_at.isoformat()})

    # Then it is scheduled for exactly then and listed with the waiting work
    task = response.json()
    assert task["status"] == "scheduled"
    assert _at(task["run_at"]) == run_at
    main = await client.get("/api/v1/queue/main", params={"limit": 1000})
    assert task["id"] in {item["id"] for item in main.json()["items"]}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"delay_seconds": 0}, "delay_seconds"),
        ({"delay_seconds": 366 * 24 * 3600}, "delay_seconds"),
        ({"run_at": "2030-01-01T00:00:00"}, "run_at"),
        ({"run_at": "next tuesday"}, "run_at"),
    ],
)
async def test_bad_delay_is_refused_naming_the_field(client, extra, field):
    response = await client.post(SUBMIT, json={"name": "echo", **extra})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


async def test_delay_and_run_at_together_are_refused(client):
    response = await client.post(
        SUBMIT, json={"name": "echo", "delay_seconds": 5, "run_at": "2030-01-01T00:00:00Z"}
    )

    assert response.status_code == 422
    assert "not both" in response.json()["detail"][0]["msg"]
