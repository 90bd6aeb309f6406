"""Filtering the results listing by status, name, queue and creation time, page by page.

Most tests record their tasks straight in PostgreSQL, with handler and queue names of their
own and creation times they choose, so that no other test's tasks can match their filters;
the listing only reads the table, so how a row got there does not matter to it.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from db.create_database import connect
from db.tasks.filters import TaskFilter
from services.errors import InvalidFilterError
from services.task_views import list_tasks
from tests.support.api import RESULTS, error_locations, list_all, marker, submit, wait_terminal
from tests.support.database import new_session
from tests.support.settings import SETTINGS, TENANT

pytestmark = pytest.mark.integration

PAGE_SIZE = 3


@dataclass(frozen=True)
class Row:
    """A task as the tests record it."""

    name: str
    status: str = "succeeded"
    queue: str = "default"
    created_at: datetime | None = None


Seed = Callable[[list[Row]], Awaitable[list[str]]]


@pytest.fixture
async def seed(migrated_database: None) -> AsyncIterator[Seed]:
    """Record tasks directly (ids returned in the order given); removed after the test."""
    connection = await connect(SETTINGS, SETTINGS.db_name)
    recorded: list[uuid.UUID] = []

    async def record(rows: list[Row]) -> list[str]:
        ids = [uuid.uuid4() for _ in rows]
        # published_at is set: the outbox relay must not send these to a worker.
        await connection.executemany(
            "INSERT INTO tasks"
            " (id, tenant, name, queue, status, created_at, published_at, run_at)"
            " VALUES ($1, $6, $2, $3, $4, coalesce($5, now()), now(),"
            " CASE WHEN $4 = 'scheduled' THEN now() + interval '1 year' END)",
            [
                (i, r.name, r.queue, r.status, r.created_at, TENANT)
                for i, r in zip(ids, rows, strict=True)
            ],
        )
        recorded.extend(ids)
        return [str(task_id) for task_id in ids]

    try:
        yield record
    finally:
        await connection.execute("DELETE FROM tasks WHERE id = ANY($1::uuid[])", recorded)
        await connection.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{marker()}"


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def listed(client, **params: Any) -> list[str]:
    """Ids of every task the filtered listing shows, in its order, across all pages."""
    return [item["id"] for item in await list_all(client, RESULTS, params)]


async def test_name_filter_lists_only_tasks_of_those_handlers(client, seed):
    # Given tasks of three handlers, oldest first
    resize, report, other = unique("resize"), unique("report"), unique("other")
    ids = await seed([Row(resize, created_at=ago(3)), Row(report, created_at=ago(2))])
    await seed([Row(other, created_at=ago(1))])

    # When the results are filtered by one name, then by two
    one = await listed(client, name=resize)
    two = await listed(client, name=[resize, report])

    # Then only tasks of those handlers are listed, newest first
    assert one == [ids[0]]
    assert two == ids[::-1]


async def test_queue_filter_lists_only_tasks_in_those_queues(client, seed):
    # Given tasks in three queues
    name, bulk, urgent, other = unique("q"), unique("bulk"), unique("urgent"), unique("other")
    ids = await seed(
        [
            Row(name, queue=bulk, created_at=ago(3)),
            Row(name, queue=urgent, created_at=ago(2)),
            Row(name, queue=other, created_at=ago(1)),
        ]
    )

    # When the results are filtered by queue
    one = await listed(client, queue=urgent)
    two = await listed(client, queue=[bulk, urgent])

    # Then only the tasks in those queues are listed, newest first
    assert one == [ids[1]]
    assert two == [ids[1], ids[0]]


async def test_created_range_includes_its_start_and_excludes_its_end(client, seed):
    # Given tasks created a minute apart, in a decade no other test uses
    start = datetime(1981, 3, 1, 12, 0, tzinfo=UTC)
    minutes = [start + timedelta(minutes=m) for m in range(5)]
    ids = await seed([Row(unique("range"), created_at=moment) for moment in minutes])

    # When the results are listed from the second minute to the fourth
    inside = await listed(
        client, created_after=minutes[1].isoformat(), created_before=minutes[3].isoformat()
    )
    # and with only one bound, in another zone than the rows were written in
    since = await listed(
        client, created_after=minutes[3].astimezone(timezone(timedelta(hours=5))).isoformat()
    )

    # Then the start is included and the end is not
    assert inside == [ids[2], ids[1]]
    assert ids[4] in since and ids[3] in since
    assert not set(ids[:3]) & set(since)


async def test_filters_combine_so_every_one_must_hold(client, seed):
    # Given tasks that differ in status, name, queue and age
    name, other_name, queue, other_queue = (unique(p) for p in ("n", "m", "q", "r"))
    rows = {
        "match-dead": Row(name, "dead", queue, ago(50)),
        "match-succeeded": Row(name, "succeeded", queue, ago(40)),
        "wrong-status": Row(name, "cancelled", queue, ago(45)),
        "wrong-name": Row(other_name, "dead", queue, ago(44)),
        "wrong-queue": Row(name, "dead", other_queue, ago(43)),
        "too-old": Row(name, "dead", queue, ago(3600)),
        "too-new": Row(name, "dead", queue, ago(1)),
    }
    ids = dict(zip(rows, await seed(list(rows.values())), strict=True))

    # When they are listed with every filter at once
    found = await listed(
        client,
        status=["dead", "succeeded"],
        name=[name, other_name + "-absent"],
        queue=queue,
        created_after=ago(600).isoformat(),
        created_before=ago(10).isoformat(),
    )

    # Then only the tasks meeting all of them are listed, newest first
    assert found == [ids["match-succeeded"], ids["match-dead"]]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": ["succeeded", "dead", "cancelled"]},
        {"queue": ["a", "b"]},
        {"status": ["succeeded", "dead"], "queue": ["a", "b", "c"]},
    ],
    ids=["name-only", "three-statuses", "two-queues", "statuses-and-queues"],
)
async def test_filtered_pages_stay_stable_while_matching_tasks_arrive(client, seed, filters):
    # Given ten matching tasks of statuses and queues mixed, and the first page read
    name = unique("paged")
    queues = filters.get("queue", ["default"])
    statuses = filters.get("status", ["succeeded"])
    params = {**filters, "name": name, "limit": PAGE_SIZE}
    rows = [
        Row(name, statuses[i % len(statuses)], queues[i % len(queues)], ago(100 - i))
        for i in range(10)
    ]
    own = (await seed(rows))[::-1]
    first = (await client.get(RESULTS, params=params)).json()
    seen = [item["id"] for item in first["items"]]

    # When the other pages are read while matching tasks keep arriving
    arrived: list[str] = []
    paging_done = asyncio.Event()

    async def arrive() -> None:
        while not paging_done.is_set():
            arrived.extend(await seed([Row(name, statuses[0], queues[0])]))

    async def read_on(cursor: str | None) -> None:
        try:
            while cursor is not None:
                response = await client.get(RESULTS, params={**params, "cursor": cursor})
                assert response.status_code == 200, response.text
                page = response.json()
                assert len(page["items"]) <= PAGE_SIZE
                seen.extend(item["id"] for item in page["items"])
                assert len(seen) <= len(own), "a page repeated tasks"
                cursor = page["next_cursor"]
        finally:
            paging_done.set()

    await asyncio.gather(arrive(), read_on(first["next_cursor"]))

    # Then the pages held exactly the first ten, newest first, and none of the newcomers
    assert arrived, "no task arrived while paging"
    assert seen == own
    # and the newcomers are there for a listing started afresh
    assert set(arrived) <= set(await listed(client, **filters, name=name))


async def test_name_and_status_filters_find_tasks_a_worker_ran(client, worker_log):
    # Given an echo task that succeeded and an emulate task that died
    echo = await submit(client, "echo", {"marker": marker()})
    dying = await submit(client, "emulate", {"failure_rate": 1})
    await wait_terminal(client, echo["id"])
    await wait_terminal(client, dying["id"])

    # When dead emulate tasks and succeeded echo tasks are listed
    dead_emulates = await listed(client, name="emulate", status="dead")
    echoes = await listed(client, name="echo", status="succeeded", queue="default")

    # Then each is where it belongs
    assert dying["id"] in dead_emulates and echo["id"] not in dead_emulates
    assert echo["id"] in echoes and dying["id"] not in echoes


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "2030-01-02T00:00:00Z", "created_before": "2030-01-01T00:00:00Z"},
        {"created_after": "2030-01-01T00:00:00Z", "created_before": "2030-01-01T01:00:00+01:00"},
    ],
    ids=["after-later-than-before", "after-equal-to-before"],
)
async def test_a_range_that_holds_no_time_lists_nothing(client, params):
    response = await client.get(RESULTS, params=params)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"created_after": "2030-01-01T00:00:00"}, ["query", "created_after"]),
        ({"created_before": "2030-01-01T00:00:00"}, ["query", "created_before"]),
        ({"created_after": "yesterday"}, ["query", "created_after"]),
        ({"name": ""}, ["query", "name", 0]),
        ({"queue": "x" * 201}, ["query", "queue", 0]),
        ({"name": [f"n{i}" for i in range(21)]}, ["query", "name"]),
        ({"status": "finished"}, ["query", "status", 0]),
    ],
    ids=[
        "after-without-zone",
        "before-without-zone",
        "after-not-a-time",
        "empty-name",
        "queue-too-long",
        "too-many-names",
        "unknown-status",
    ],
)
async def test_bad_filter_is_rejected_naming_the_field(client, params, loc):
    # When the results are listed with a filter that cannot be meant
    response = await client.get(RESULTS, params=params)

    # Then the API answers 422 naming the filter
    assert response.status_code == 422, response.text
    assert loc in error_locations(response)


def test_a_filter_on_several_values_reads_one_ordered_branch_per_value_of_the_smallest():
    # Given statuses, names and queues with several values each
    task_filter = TaskFilter.of(
        tenants=["acme"],
        statuses=["dead", "succeeded", "cancelled"],
        names=["a", "b"],
        queues=["x", "y", "z", "w"],
    )

    # When it is turned into conditions
    branches = task_filter.branches()

    # Then there is one branch per name (the fewest values), each with the tenant's
    # equality in front (the indexes' first column) and the name's after it
    assert [[literal(condition) for condition in branch[:2]] for branch in branches] == [
        ["tasks.tenant = 'acme'", "tasks.name = 'a'"],
        ["tasks.tenant = 'acme'", "tasks.name = 'b'"],
    ]


def test_an_operator_filter_reads_one_branch_per_tenant_and_value():
    # Given two tenants (an operator's view) and two statuses
    task_filter = TaskFilter.of(tenants=["globex", "acme"], statuses=["dead", "cancelled"])

    # Then each tenant and status is a branch of its own, the tenant first
    assert [[literal(condition) for condition in branch] for branch in task_filter.branches()] == [
        ["tasks.tenant = 'acme'", "tasks.status = 'cancelled'"],
        ["tasks.tenant = 'acme'", "tasks.status = 'dead'"],
        ["tasks.tenant = 'globex'", "tasks.status = 'cancelled'"],
        ["tasks.tenant = 'globex'", "tasks.status = 'dead'"],
    ]


def literal(condition) -> str:
    return str(condition.compile(compile_kwargs={"literal_binds": True}))


def test_repeated_values_count_once_and_single_values_need_no_branches():
    assert len(TaskFilter.of(tenants=["t"], statuses=["dead", "dead"], names=["a"]).branches()) == 1
    assert len(TaskFilter(tenants=frozenset({"t"})).branches()) == 1


async def test_a_naive_time_is_refused_by_the_listing_itself(migrated_database):
    async with new_session() as session:
        with pytest.raises(InvalidFilterError) as refused:
            await list_tasks(
                session=session, tenants={"acme"}, limit=10, created_before=datetime(2030, 1, 1)
            )
    assert refused.value.field == "created_before"
