"""Listing results page by page, newest first, with a cursor that new tasks do not shift."""

import pytest

from tests.support.api import (
    RESULTS,
    error_locations,
    list_all,
    marker,
    submit,
    wait_terminal,
)

pytestmark = pytest.mark.integration

PAGE_SIZE = 3
OWN_TASKS = 7


async def submit_in_order(client, count: int) -> list[str]:
    """Submit echo tasks one after the other; their ids, oldest first."""
    tag = marker()
    return [
        (await submit(client, "echo", {"marker": tag, "index": index}))["id"]
        for index in range(count)
    ]


async def next_page(client, cursor: str | None) -> dict:
    params = {"limit": PAGE_SIZE} if cursor is None else {"limit": PAGE_SIZE, "cursor": cursor}
    response = await client.get(RESULTS, params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert len(page["items"]) <= PAGE_SIZE
    return page


async def test_pages_list_tasks_newest_first_without_duplicates_or_gaps(client):
    # Given tasks submitted one after the other
    own = await submit_in_order(client, OWN_TASKS)

    # When the results are read page by page until all of them were seen
    seen: list[str] = []
    cursor = None
    while set(own) - set(seen):
        page = await next_page(client, cursor)
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        assert cursor is not None or not set(own) - set(seen), "listing ended early"

    # Then the pages held no task twice, and ours came newest first, none missing
    assert len(seen) == len(set(seen))
    assert [task_id for task_id in seen if task_id in own] == own[::-1]


async def test_task_submitted_while_paging_does_not_shift_later_pages(client):
    # Given tasks submitted one after the other, and the first page of results read
    own = await submit_in_order(client, OWN_TASKS)
    first = await next_page(client, None)
    seen = [item["id"] for item in first["items"]]

    # When another task is submitted before the later pages are read
    newcomer = (await submit(client, "echo", {"marker": marker()}))["id"]
    cursor = first["next_cursor"]
    while set(own) - set(seen):
        assert cursor is not None, "listing ended early"
        page = await next_page(client, cursor)
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]

    # Then the later pages neither repeat a task nor show the newcomer, and none is missing
    assert len(seen) == len(set(seen))
    assert newcomer not in seen
    assert [task_id for task_id in seen if task_id in own] == own[::-1]


@pytest.mark.parametrize("limit", [0, 1001, -1])
async def test_page_size_out_of_bounds_is_rejected_naming_limit(client, limit):
    # Given a page size outside 1..1000
    # When the results are listed with it
    response = await client.get(RESULTS, params={"limit": limit})

    # Then the API answers 422 about the limit
    assert response.status_code == 422
    assert ["query", "limit"] in error_locations(response)


@pytest.mark.parametrize("cursor", ["garbage", "", "bm90LWEtY3Vyc29y", "!!!"])
async def test_cursor_not_made_by_the_api_is_rejected_naming_cursor(client, cursor):
    # Given a cursor the API never returned
    # When the results are listed from it
    response = await client.get(RESULTS, params={"cursor": cursor})

    # Then the API answers 422 about the cursor
    assert response.status_code == 422
    assert ["query", "cursor"] in error_locations(response)


async def test_status_filter_returns_only_tasks_in_that_status(client, worker_log):
    # Given a task that succeeded and one that died (emulate certain to fail)
    succeeded = await submit(client, "echo", {"marker": marker()})
    dead = await submit(client, "emulate", {"failure_rate": 1})
    assert (await wait_terminal(client, succeeded["id"]))["status"] == "succeeded"
    assert (await wait_terminal(client, dead["id"]))["status"] == "dead"

    # When the results are listed with status=succeeded
    items = await list_all(client, RESULTS, {"status": "succeeded"})

    # Then only succeeded tasks are listed: the echo task, not the dead one
    ids = {item["id"] for item in items}
    assert {item["status"] for item in items} == {"succeeded"}
    assert succeeded["id"] in ids
    assert dead["id"] not in ids


async def test_repeated_status_filter_returns_tasks_in_any_of_those_statuses(client, worker_log):
    # Given a task that succeeded and one that died (emulate certain to fail)
    succeeded = await submit(client, "echo", {"marker": marker()})
    dead = await submit(client, "emulate", {"failure_rate": 1})
    assert (await wait_terminal(client, succeeded["id"]))["status"] == "succeeded"
    assert (await wait_terminal(client, dead["id"]))["status"] == "dead"

    # When the results are listed with status=succeeded and status=dead
    items = await list_all(client, RESULTS, {"status": ["succeeded", "dead"]})

    # Then both tasks are listed, and nothing in another status
    ids = {item["id"] for item in items}
    assert {succeeded["id"], dead["id"]} <= ids
    assert {item["status"] for item in items} == {"succeeded", "dead"}


async def test_unknown_status_filter_is_rejected(client):
    # Given a status no task can have
    # When the results are filtered by it
    response = await client.get(RESULTS, params={"status": "finished"})

    # Then the API answers 422 about the status, listing the known ones
    assert response.status_code == 422
    assert ["query", "status", 0] in error_locations(response)
    assert "succeeded" in response.json()["detail"][0]["msg"]
