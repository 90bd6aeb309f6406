"""Purging dead tasks for good: one, or every one a filter selects."""

import uuid

import pytest

from db.tasks.filters import DeadLetterFilter
from services.purge import purge_matching
from tests.support.api import RESULTS, error_locations, get_task, marker, submit, wait_terminal
from tests.support.database import new_session
from tests.support.dead_letters import DEAD_LETTER, make_dead

pytestmark = pytest.mark.integration


async def test_purging_a_dead_task_deletes_it(client, worker_log):
    # Given a dead task
    (dead,) = await make_dead(client, [marker()])

    # When it is purged, then purged again
    first = await client.delete(f"{DEAD_LETTER}{dead['id']}")
    second = await client.delete(f"{DEAD_LETTER}{dead['id']}")

    # Then the first answers 204 and the task is gone; the second finds nothing (404)
    assert first.status_code == 204, first.text
    assert (await client.get(f"{RESULTS}{dead['id']}")).status_code == 404
    assert second.status_code == 404


async def test_purging_a_task_that_is_not_dead_is_409_and_keeps_it(client, worker_log):
    # Given a task that succeeded
    task = await submit(client, "echo", {"marker": marker()})
    await wait_terminal(client, task["id"])

    # When it is purged
    response = await client.delete(f"{DEAD_LETTER}{task['id']}")

    # Then the answer is a 409 saying what it is, and the task is still there
    assert response.status_code == 409
    assert response.json()["status"] == "succeeded"
    assert (await get_task(client, task["id"]))["status"] == "succeeded"


async def test_purging_an_unknown_id_is_404(client):
    response = await client.delete(f"{DEAD_LETTER}{uuid.uuid4()}")
    assert response.status_code == 404


async def test_purge_by_filter_deletes_only_the_matching_dead_tasks(client, worker_log):
    # Given three dead tasks whose errors share a marker, and one that does not
    tag = marker()
    matching = await make_dead(client, [f"{tag} one", f"{tag} two", f"{tag} three"])
    (other,) = await make_dead(client, [marker()])

    # When dead tasks with the marker are purged
    response = await client.delete(DEAD_LETTER, params={"error": tag})

    # Then the three are deleted, and the other is kept
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": 3}
    for task in matching:
        assert (await client.get(f"{RESULTS}{task['id']}")).status_code == 404
    assert (await get_task(client, other["id"]))["status"] == "dead"


@pytest.mark.parametrize(
    ("params", "location", "says"),
    [
        ({}, ["query"], "all=true"),
        ({"eror": "x"}, ["query", "eror"], "not permitted"),
        ({"died_before": "2030-01-01T00:00"}, ["query", "died_before"], "timezone"),
    ],
)
async def test_purge_needs_an_explicit_selection(client, params, location, says):
    # Given a purge with no filter, a misspelt filter, or a time without a zone
    # When it is sent
    response = await client.delete(DEAD_LETTER, params=params)

    # Then it is a 422 naming what is wrong
    assert response.status_code == 422, response.text
    assert error_locations(response) == [location]
    assert says in response.json()["detail"][0]["msg"]


async def test_purge_by_filter_goes_through_batches(client, worker_log):
    # Given five dead tasks sharing a marker
    tag = marker()
    tasks = await make_dead(client, [f"{tag} {n}" for n in range(5)])

    # When they are purged two per transaction
    async with new_session() as session:
        deleted = await purge_matching(
            session=session, selection=DeadLetterFilter(error=tag), batch_size=2
        )

    # Then all five are deleted, each counted once
    assert deleted == 5
    for task in tasks:
        assert (await client.get(f"{RESULTS}{task['id']}")).status_code == 404


async def test_all_with_a_filter_purges_what_the_filter_selects(client, worker_log):
    # Given two dead tasks, one of them matching a marker
    tag = marker()
    matching, other = await make_dead(client, [f"{tag} a", marker()])

    # When all=true comes with the marker as a filter
    response = await client.delete(DEAD_LETTER, params={"all": "true", "error": tag})

    # Then the filter still selects: only the matching one is gone
    assert response.json() == {"deleted": 1}, response.text
    assert (await client.get(f"{RESULTS}{matching['id']}")).status_code == 404
    assert (await get_task(client, other["id"]))["status"] == "dead"
