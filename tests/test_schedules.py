"""Schedules over the API: made, read, changed and deleted by their own tenant, every field
checked as a submit checks it; each tick makes one task (however many schedulers run, and
after a crash between the task and the move to the next tick) that a real worker runs;
missed ticks are caught up once or skipped; a pause stops the ticks; a trigger makes a task
now; the results list filters by schedule."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, text
from sqlalchemy.dialects import postgresql

from db import schedules as schedule_rows
from db.models import Role
from db.tasks.filters import TaskFilter
from db.tasks.reads import page_query
from services.scheduler import make_task, tick_key, tick_once
from tests.support.api import RESULTS, SUBMIT, error_locations, marker
from tests.support.database import new_session
from tests.support.schedules import (
    SCHEDULES,
    schedule_body,
    schedule_maker,
    set_next_run,
    tasks_of,
    tick_keys,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def make_schedule(client):
    """Make schedules of tenant acme (or another client's); deleted after the test."""
    async with schedule_maker(client) as make:
        yield make


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def tick_of(key: str) -> datetime:
    """The tick an idempotency key `schedule:<id>:<tick>` names."""
    return datetime.fromisoformat(key.split(":", 2)[2])


async def read(http: httpx.AsyncClient, schedule_id: str) -> dict[str, Any]:
    response = await http.get(f"{SCHEDULES}/{schedule_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def patch(http: httpx.AsyncClient, schedule_id: str, **fields: Any) -> dict[str, Any]:
    response = await http.patch(f"{SCHEDULES}/{schedule_id}", json=fields)
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    return changed


async def moved_on(http: httpx.AsyncClient, schedule_id: str) -> dict[str, Any] | None:
    """The schedule once its next tick is in the future again."""
    schedule = await read(http, schedule_id)
    upcoming = schedule["next_run_at"] and moment(schedule["next_run_at"]) > datetime.now(UTC)
    return schedule if upcoming else None


async def test_a_schedule_is_made_read_listed_changed_and_deleted(client, make_schedule):
    # When a schedule is made for 03:00 every day in Berlin
    note = marker()
    made = await make_schedule(
        cron="0 3 * * *",
        timezone="Europe/Berlin",
        task={"name": "echo", "payload": {"note": note}, "priority": 7},
    )

    # Then it says so, and its next run is the next 03:00 there
    assert (made["tenant"], made["cron"], made["interval_seconds"]) == ("acme", "0 3 * * *", None)
    assert made["task"] == {"name": "echo", "payload": {"note": note}, "queue": None, "priority": 7}
    assert (made["paused"], made["catch_up"], made["last_run_at"]) == (False, "once", None)
    next_run = moment(made["next_run_at"])
    berlin = next_run.astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (3, 0)
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(hours=25)
    # and it reads back, and is listed
    assert await read(client, made["id"]) == made
    listed = (await client.get(SCHEDULES, params={"limit": 1000})).json()["items"]
    assert made["id"] in {item["id"] for item in listed}

    # When it is retimed to an interval and renamed
    changed = await patch(client, made["id"], interval_seconds=60, name="every minute")

    # Then the interval replaces the cron, and the next run is a minute from the change
    assert (changed["cron"], changed["interval_seconds"], changed["name"]) == (
        None, 60, "every minute",
    )  # fmt: skip
    after_change = moment(changed["next_run_at"]) - moment(changed["updated_at"])
    assert timedelta(seconds=59) < after_change <= timedelta(seconds=60)

    # When it is paused, then resumed
    paused = await patch(client, made["id"], paused=True)
    resumed = await patch(client, made["id"], paused=False)

    # Then a paused schedule has no next run, and a resumed one has one again
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    assert resumed["paused"] is False and moment(resumed["next_run_at"]) > datetime.now(UTC)

    # When it is deleted, it is gone
    deleted = await client.delete(f"{SCHEDULES}/{made['id']}")
    assert deleted.status_code == 204
    gone = await client.get(f"{SCHEDULES}/{made['id']}")
    assert gone.status_code == 404 and "no schedule" in gone.json()["detail"]


INVALID_CREATES = [
    ({"interval_seconds": None}, ["body", "cron"], "interval_seconds"),
    ({"cron": "* * * * *", "interval_seconds": 60}, ["body", "interval_seconds"], "not both"),
    ({"cron": "61 * * * *"}, ["body", "cron"], "five fields"),
    ({"cron": "every day at noon"}, ["body", "cron"], "five fields"),
    ({"timezone": "Mars/Olympus"}, ["body", "timezone"], "IANA"),
    ({"task": {"name": "no-such-handler"}}, ["body", "task", "name"], "unknown handler"),
    (
        {"task": {"name": "sleep", "payload": {"seconds": 3600}}},
        ["body", "task", "payload", "seconds"],
        "60",
    ),
    ({"task": {"name": "echo", "queue": "nowhere"}}, ["body", "task", "queue"], "unknown queue"),
    ({"catch_up": "twice"}, ["body", "catch_up"], "once"),
    ({"interval_seconds": 0}, ["body", "interval_seconds"], "greater than"),
    ({"task": {"payload": {}}}, ["body", "task", "name"], "required"),
]


@pytest.mark.parametrize(
    ("fields", "loc", "said"),
    INVALID_CREATES,
    ids=[
        "neither-cron-nor-interval",
        "both",
        "cron-out-of-range",
        "cron-not-cron",
        "unknown-time-zone",
        "unknown-handler",
        "payload-breaks-handler-model",
        "unknown-queue",
        "unknown-catch-up",
        "zero-interval",
        "task-without-handler",
    ],
)
async def test_an_invalid_schedule_is_refused_naming_the_field(client, fields, loc, said):
    # When a schedule with one thing wrong is made
    response = await client.post(SCHEDULES, json=schedule_body(**fields))

    # Then it is a 422 whose detail names the field and says what was expected
    assert response.status_code == 422, response.text
    assert loc in error_locations(response)
    messages = " ".join(item["msg"] for item in response.json()["detail"])
    assert said in messages, messages


async def test_an_invalid_change_is_refused_naming_the_field_and_changes_nothing(
    client, make_schedule
):
    schedule = await make_schedule()
    path = f"{SCHEDULES}/{schedule['id']}"

    for body, loc in [
        ({"cron": "* * *"}, ["body", "cron"]),
        ({"cron": "* * * * *", "interval_seconds": 5}, ["body", "interval_seconds"]),
        ({"timezone": "Nowhere/Land"}, ["body", "timezone"]),
        ({"task": {"name": "echo", "queue": "nowhere"}}, ["body", "task", "queue"]),
        ({"paused": "yes"}, ["body", "paused"]),
    ]:
        response = await client.patch(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert loc in error_locations(response), (body, response.text)

    assert await read(client, schedule["id"]) == schedule
    missing = await client.patch(f"{SCHEDULES}/{uuid.uuid4()}", json={"paused": True})
    assert missing.status_code == 404


async def test_an_interval_schedule_makes_a_task_each_tick_that_a_worker_runs(
    client, make_schedule, worker_log
):
    # Given a schedule of an echo task every second
    payload = {"tick": marker()}
    schedule = await make_schedule(
        interval_seconds=1, task={"name": "echo", "payload": payload}, catch_up="none"
    )

    # When three of its tasks have run
    async def three_succeeded() -> list[dict[str, Any]] | None:
        tasks = await tasks_of(client, schedule["id"], status="succeeded")
        return tasks if len(tasks) >= 3 else None

    await wait_for(three_succeeded, timeout=20, what="three ticks' tasks to succeed")
    await patch(client, schedule["id"], paused=True)

    # Then every task is the schedule's, ran the payload, and stands for a tick of its own,
    # each a whole number of seconds after the first (the interval's phase)
    tasks = await tasks_of(client, schedule["id"])
    succeeded = [task for task in tasks if task["status"] == "succeeded"]
    assert all(task["schedule_id"] == schedule["id"] for task in tasks)
    assert all(task["result"] == payload for task in succeeded)
    keys = await tick_keys(schedule["id"])
    assert len(keys) == len(set(keys)) == len(tasks)
    ticks = [tick_of(key) for key in keys]
    assert ticks == sorted(ticks)
    assert all((tick - ticks[0]).total_seconds() % 1 == 0 for tick in ticks)
    assert (await read(client, schedule["id"]))["last_run_at"] is not None


async def test_schedulers_racing_for_the_same_ticks_make_one_task_each(
    client, api_runtime, make_schedule
):
    # Given a schedule an hour apart (nothing else makes its tasks)
    schedule = await make_schedule()

    async def one_scheduler_run() -> int:
        async with new_session() as session:
            return await tick_once(
                session=session,
                submitter=api_runtime.submitter,
                batch_size=100,
                missed_after=timedelta(seconds=10),
            )

    rounds = 5
    for _ in range(rounds):
        # When its tick comes, and four schedulers run at once (beside the API's own and
        # the worker's, which run all the time)
        await set_next_run(schedule["id"], timedelta(seconds=1))
        await asyncio.gather(*(one_scheduler_run() for _ in range(4)))
        await wait_for(lambda: moved_on(client, schedule["id"]), timeout=10, what="the move")

    # Then each tick made exactly one task
    keys = await tick_keys(schedule["id"])
    assert len(keys) == len(set(keys)) == rounds
    assert len(await tasks_of(client, schedule["id"])) == rounds


async def test_a_tick_whose_move_was_lost_makes_no_second_task(client, api_runtime, make_schedule):
    # Given a due tick whose task was made while the schedule was locked, but whose move to
    # the next tick never happened (the process died in between); and the schedule's task
    # changed since, so a repeat is no longer the same request
    schedule = await make_schedule()
    async with new_session() as session:
        row = await schedule_rows.get_schedule(
            session=session, schedule_id=uuid.UUID(schedule["id"]), tenant=None, lock=True
        )
        assert row is not None
        due = await schedule_rows.update_schedule(
            session=session,
            schedule_id=row.id,
            values={"next_run_at": func.now() - timedelta(seconds=1)},
        )
        assert due.next_run_at is not None
        tick = due.next_run_at
        assert await make_task(api_runtime.submitter, due, tick)
        await schedule_rows.update_schedule(
            session=session, schedule_id=row.id, values={"task_payload": {"changed": True}}
        )
        await session.commit()

    # When the schedulers find it due again
    await wait_for(lambda: moved_on(client, schedule["id"]), timeout=10, what="the move")

    # Then the tick still has one task, the one made before the crash
    assert await tick_keys(schedule["id"]) == [tick_key(row.id, tick)]
    (task,) = await tasks_of(client, schedule["id"])
    assert task["payload"] == schedule["task"]["payload"]


async def test_missed_ticks_are_caught_up_once_or_skipped(client, make_schedule):
    # Given two hourly schedules, one catching up once and one not
    once = await make_schedule(catch_up="once")
    none = await make_schedule(catch_up="none")

    # When every process was down for two and a half of their ticks
    was_due = {s["id"]: await set_next_run(s["id"], timedelta(minutes=150)) for s in (once, none)}
    for schedule in (once, none):
        await wait_for(lambda s=schedule: moved_on(client, s["id"]), timeout=10, what="a move")

    # Then `once` made one task, for the most recent missed tick, and `none` made none
    (key,) = await tick_keys(once["id"])
    assert tick_of(key) == was_due[once["id"]] + timedelta(hours=2)
    assert await tick_keys(none["id"]) == []
    # and both wait for their next tick, in the phase they had
    for schedule in (once, none):
        after = await read(client, schedule["id"])
        assert moment(after["next_run_at"]) == was_due[schedule["id"]] + timedelta(hours=3)
    assert (await read(client, once["id"]))["last_run_at"] is not None
    assert (await read(client, none["id"]))["last_run_at"] is None


async def test_a_paused_schedule_makes_no_task_until_resumed(client, make_schedule):
    # Given two schedules ticking every second, one of them paused after its first task
    paused = await make_schedule(interval_seconds=1, catch_up="none")
    clock = await make_schedule(interval_seconds=1, catch_up="none")
    await wait_for(lambda: tasks_of(client, paused["id"]), timeout=10, what="a first task")
    await patch(client, paused["id"], paused=True)
    made = len(await tasks_of(client, paused["id"]))
    ticked = len(await tasks_of(client, clock["id"]))

    # When the other has ticked twice since
    async def two_more_ticks() -> bool:
        return len(await tasks_of(client, clock["id"])) >= ticked + 2

    await wait_for(two_more_ticks, timeout=10, what="two more ticks of the other schedule")

    # Then the paused one made none meanwhile
    assert len(await tasks_of(client, paused["id"])) == made

    # And resumed, it ticks again
    await patch(client, paused["id"], paused=False)

    async def ticks_again() -> bool:
        return len(await tasks_of(client, paused["id"])) > made

    await wait_for(ticks_again, timeout=10, what="a tick after the resume")


async def test_a_trigger_makes_one_task_now_and_leaves_the_ticks_alone(client, make_schedule):
    # Given a paused schedule and a running one
    payload = {"now": marker()}
    task = {"name": "echo", "payload": payload, "priority": 8}
    paused = await make_schedule(paused=True, task=task)
    running = await make_schedule(task=task)

    for schedule in (paused, running):
        # When it is triggered
        response = await client.post(f"{SCHEDULES}/{schedule['id']}/trigger")

        # Then the answer is the task it made now, of the schedule
        assert response.status_code == 202, response.text
        made = response.json()
        assert (made["name"], made["payload"], made["priority"]) == ("echo", payload, 8)
        assert made["schedule_id"] == schedule["id"] and made["tenant"] == "acme"
        # and the schedule noted the run, its ticks unchanged
        after = await read(client, schedule["id"])
        assert after["last_run_at"] is not None
        assert (after["paused"], after["next_run_at"]) == (
            schedule["paused"], schedule["next_run_at"],
        )  # fmt: skip
        assert [task["id"] for task in await tasks_of(client, schedule["id"])] == [made["id"]]

    missing = await client.post(f"{SCHEDULES}/{uuid.uuid4()}/trigger")
    assert missing.status_code == 404


async def test_the_results_list_filters_by_schedule(client, make_schedule):
    # Given tasks of two schedules, and one of none
    first, second = await make_schedule(paused=True), await make_schedule(paused=True)

    async def trigger(schedule: dict[str, Any]) -> str:
        response = await client.post(f"{SCHEDULES}/{schedule['id']}/trigger")
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    firsts = {await trigger(first), await trigger(first)}
    seconds = {await trigger(second)}
    plain = await client.post(SUBMIT, json={"name": "echo", "delay_seconds": 3600})
    assert plain.status_code == 202

    # Then each schedule's filter lists its own tasks only, newest first
    listed = await tasks_of(client, first["id"])
    assert {task["id"] for task in listed} == firsts
    assert [t["created_at"] for t in listed] == sorted(
        (t["created_at"] for t in listed), reverse=True
    )
    assert {task["id"] for task in await tasks_of(client, second["id"])} == seconds
    # and it combines with the other filters
    assert {t["id"] for t in await tasks_of(client, first["id"], name="echo")} == firsts
    assert await tasks_of(client, first["id"], name="sleep") == []
    assert await tasks_of(client, str(uuid.uuid4())) == []
    # and a schedule id that is none is a 422 naming it
    bad = await client.get(RESULTS, params={"schedule_id": "tomorrow"})
    assert bad.status_code == 422 and ["query", "schedule_id"] in error_locations(bad)


async def test_a_schedules_tasks_are_read_through_their_own_index(migrated_database):
    # Given the listing of one schedule's tasks
    task_filter = TaskFilter.of(tenants=["acme"], schedule_id=uuid.uuid4())
    query = page_query(task_filter, after=None, size=101)
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))

    # When PostgreSQL plans it (on a small table it would rather scan the whole)
    async with new_session() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))

    # Then it reads the schedule's own entries, in page order: no sort
    assert "ix_tasks_tenant_schedule_id_created_at_id" in plan, plan
    assert "Sort" not in plan, plan


async def test_another_tenants_schedule_is_not_found_nor_listed(keyed, make_schedule):
    # Given a schedule of tenant A, which made a task
    tag = marker()[:8]
    a, b = await keyed(f"a-{tag}", Role.WRITE), await keyed(f"b-{tag}", Role.ADMIN)
    schedule = await make_schedule(a.http, paused=True)
    assert schedule["tenant"] == f"a-{tag}"
    triggered = await a.http.post(f"{SCHEDULES}/{schedule['id']}/trigger")
    assert triggered.status_code == 202, triggered.text

    # Then tenant B gets a 404 wherever it names it
    path = f"{SCHEDULES}/{schedule['id']}"
    for method, where, body in [
        ("GET", path, None),
        ("PATCH", path, {"paused": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/trigger", None),
    ]:
        response = await b.http.request(method, where, json=body)
        assert response.status_code == 404, (method, where, response.text)
        assert "no schedule" in response.json()["detail"]
    # and neither B's schedules nor B's results show it or its task
    assert (await b.http.get(SCHEDULES)).json()["items"] == []
    assert await tasks_of(b.http, schedule["id"]) == []
    # while A's schedule is still there, paused, with its one task
    kept = await read(a.http, schedule["id"])
    assert (kept["name"], kept["paused"]) == (schedule["name"], True)
    assert len(await tasks_of(a.http, schedule["id"])) == 1


async def test_a_read_key_may_look_at_schedules_but_not_change_them(keyed, make_schedule):
    tenant = f"r-{marker()[:8]}"
    writer, reader = await keyed(tenant, Role.WRITE), await keyed(tenant, Role.READ)
    schedule = await make_schedule(writer.http, paused=True)
    path = f"{SCHEDULES}/{schedule['id']}"

    assert await read(reader.http, schedule["id"]) == schedule
    assert [item["id"] for item in (await reader.http.get(SCHEDULES)).json()["items"]] == [
        schedule["id"]
    ]
    for method, where, body in [
        ("POST", SCHEDULES, schedule_body()),
        ("PATCH", path, {"paused": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/trigger", None),
    ]:
        response = await reader.http.request(method, where, json=body)
        assert response.status_code == 403, (method, where, response.text)
        assert "write role" in response.json()["detail"]
    assert await read(writer.http, schedule["id"]) == schedule
