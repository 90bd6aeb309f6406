"""Listing the dead-letter queue by handler, error and time of death; inspecting one task."""

import uuid

import pytest

from tests.support.api import error_locations, list_all, marker, submit, wait_terminal
from tests.support.dead_letters import DEAD_LETTER, DYING, make_dead

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def deaths(client, worker) -> dict:
    """Three dead tasks whose errors share a marker, two differing only where a LIKE
    wildcard would match (made once for this module)."""
    tag = marker()
    wildcard, lookalike, plain = await make_dead(
        client, [f"{tag} a_b%c", f"{tag} axbyc", f"{tag} plain"]
    )
    return {"tag": tag, "wildcard": wildcard, "lookalike": lookalike, "plain": plain}


def ids(items: list[dict]) -> set[str]:
    return {item["id"] for item in items}


async def test_error_filter_matches_a_substring_ignoring_case(client, deaths):
    # Given three dead tasks whose errors hold the same marker, in lower case
    # When the dead letters are listed by the marker in upper case
    found = await list_all(client, DEAD_LETTER, {"error": deaths["tag"].upper()})

    # Then all three are listed, and nothing else
    expected = {deaths[key]["id"] for key in ("wildcard", "lookalike", "plain")}
    assert ids(found) == expected


async def test_error_filter_takes_like_wildcards_literally(client, deaths):
    # Given dead tasks with the errors "… a_b%c" and "… axbyc" (which "a_b%c" matches as
    # a LIKE pattern)
    # When the dead letters are listed by "a_b%c"
    found = await list_all(client, DEAD_LETTER, {"error": f"{deaths['tag']} a_b%c"})

    # Then only the task whose error holds those very characters is listed
    assert ids(found) == {deaths["wildcard"]["id"]}


async def test_name_filter_is_repeatable(client, deaths):
    # Given three dead tasks of one handler
    tag = deaths["tag"]

    # When listed by another handler's name, then by both names
    other_only = await list_all(client, DEAD_LETTER, {"error": tag, "name": "fail"})
    both = await list_all(client, DEAD_LETTER, {"error": tag, "name": ["fail", DYING]})

    # Then the first finds none of them, the second all of them
    assert other_only == []
    assert len(both) == 3


async def test_died_after_and_died_before_bound_the_time_of_death(client, deaths):
    # Given three dead tasks, each with its time of death
    tasks = sorted(
        (deaths[key] for key in ("wildcard", "lookalike", "plain")),
        key=lambda task: task["finished_at"],
    )
    first, last = tasks[0]["finished_at"], tasks[-1]["finished_at"]
    assert first < last

    # When listed with bounds at the first and the last death
    after = await list_all(client, DEAD_LETTER, {"error": deaths["tag"], "died_after": first})
    before = await list_all(client, DEAD_LETTER, {"error": deaths["tag"], "died_before": last})

    # Then each bound is strict: the task that died at it is left out
    assert tasks[0]["id"] not in ids(after) and tasks[-1]["id"] in ids(after)
    assert tasks[-1]["id"] not in ids(before) and tasks[0]["id"] in ids(before)


async def test_filtered_list_pages_with_a_cursor(client, deaths):
    # Given three dead tasks matching a filter
    query = {"error": deaths["tag"], "limit": 2}

    # When listed two at a time
    first = (await client.get(DEAD_LETTER, params=query)).json()
    query["cursor"] = first["next_cursor"]
    second = (await client.get(DEAD_LETTER, params=query)).json()

    # Then the two pages hold all three, once each, and the second is the last
    assert len(first["items"]) == 2 and first["next_cursor"] is not None
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert len(ids(first["items"]) | ids(second["items"])) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("died_after", "2030-01-01T00:00:00"), ("died_before", "yesterday"), ("error", "")],
)
async def test_bad_filter_is_422_naming_the_field(client, field, value):
    # Given a filter value that is not an ISO 8601 time with a zone (or an empty error)
    # When the dead letters are listed with it
    response = await client.get(DEAD_LETTER, params={field: value})

    # Then the answer is a 422 naming the field
    assert response.status_code == 422, response.text
    assert error_locations(response) == [["query", field]]


async def test_dead_task_detail_shows_every_attempts_error_and_the_last_traceback(client, deaths):
    # Given a task that died after two attempts
    task = deaths["plain"]

    # When it is read from the dead-letter queue
    response = await client.get(f"{DEAD_LETTER}{task['id']}")

    # Then it carries both attempts' errors and the traceback of the last one
    assert response.status_code == 200, response.text
    dead = response.json()
    assert dead["status"] == "dead"
    assert [entry["attempt"] for entry in dead["errors"]] == [1, 2]
    assert all(task["payload"]["note"] in entry["error"] for entry in dead["errors"])
    assert "NotOkError" in dead["traceback"]


async def test_detail_of_an_unknown_id_is_404(client):
    # Given an id no task has
    missing = uuid.uuid4()

    # When it is read from the dead-letter queue
    response = await client.get(f"{DEAD_LETTER}{missing}")

    # Then the answer is a 404 naming the id
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


async def test_detail_of_a_task_that_is_not_dead_is_409_with_its_status(client, worker_log):
    # Given a task that succeeded
    task = await submit(client, "echo", {"marker": marker()})
    await wait_terminal(client, task["id"])

    # When it is read from the dead-letter queue
    response = await client.get(f"{DEAD_LETTER}{task['id']}")

    # Then the answer is a 409 saying what the task is
    assert response.status_code == 409
    assert response.json()["status"] == "succeeded"
    assert "succeeded" in response.json()["detail"]
