"""`taskgate` over HTTP: the console script against a real API process and a real worker;
every outcome is read back from the API."""

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.problems import describe
from db.models import Role
from services.keys import create_key
from tests.chaos.stack import free_port
from tests.support.api import RESULTS, SUBMIT, marker, wait_terminal
from tests.support.cli import AN_HOUR, Ran, api_process, dead, jsonl, later, task_of, taskgate
from tests.support.database import new_session
from tests.support.settings import AUTH_HEADERS, TENANT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

DEAD_LETTER = "/api/v1/dead-letter/"
QUEUES = "/api/v1/queue/"


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


async def cli(api_url: str, *args: str, **options: Any) -> Ran:
    return await taskgate(*args, url=api_url, **options)


async def test_submit_then_status_shows_what_the_api_recorded(api_url, direct):
    note, key = marker(), f"cli-{marker()}"
    options = ["--priority", "0", "--max-attempts", "2", "--delay", str(AN_HOUR)]

    # When a task is submitted with options, and its status asked
    submitted = await cli(
        api_url, "submit", "echo", "--payload", json.dumps({"note": note}),
        *options, "--idempotency-key", key, "--json",
    )  # fmt: skip
    assert submitted.code == 0, submitted.err
    task_id = submitted.json()["id"]
    status = await cli(api_url, "status", task_id)
    as_json = await cli(api_url, "status", task_id, "--json")

    # Then the API holds it as submitted, and status shows it for people and for scripts
    recorded = await task_of(direct, task_id)
    assert (recorded["name"], recorded["payload"], recorded["status"]) == (
        "echo", {"note": note}, "scheduled",
    )  # fmt: skip
    assert (recorded["priority"], recorded["max_attempts"]) == (0, 2)
    assert status.code == 0 and task_id in status.out and note in status.out
    assert "scheduled" in status.out
    assert as_json.json() == recorded

    # And a repeat with its key gives it back; the key with another payload is a conflict
    repeat = await cli(
        api_url, "submit", "echo", "--payload", json.dumps({"note": note}),
        *options, "--idempotency-key", key,
    )  # fmt: skip
    assert repeat.code == 0 and f"task {task_id} was submitted before" in repeat.out
    conflict = await cli(api_url, "submit", "echo", "--idempotency-key", key)
    assert conflict.code == 1 and "conflict" in conflict.error_line()
    assert task_id in conflict.error_line()

    # And cancel cancels it, once
    cancelled = await cli(api_url, "cancel", task_id)
    assert cancelled.code == 0 and f"cancelled task {task_id}" in cancelled.out
    assert (await task_of(direct, task_id))["status"] == "cancelled"
    again = await cli(api_url, "cancel", task_id)
    assert again.code == 1 and "cancelled already" in again.error_line()


async def test_submit_wait_ends_with_the_result(api_url, direct, worker):
    payload = {"hello": marker()}

    finished = await cli(
        api_url, "submit", "echo", "--payload", json.dumps(payload), "--wait", "--timeout", "20",
        "--json",
    )  # fmt: skip

    assert finished.code == 0, finished.err
    task = finished.json()
    assert (task["status"], task["result"]) == ("succeeded", payload)
    assert (await task_of(direct, task["id"]))["status"] == "succeeded"
    shown = await cli(api_url, "wait", task["id"], "--timeout", "5")
    assert shown.code == 0 and "succeeded" in shown.out and payload["hello"] in shown.out


async def test_wait_exits_3_for_a_dead_task_and_4_on_timeout(api_url, direct, worker):
    message = f"broken {marker()}"

    died = await cli(
        api_url, "submit", "fail", "--payload", json.dumps({"message": message}),
        "--max-attempts", "1", "--wait", "--timeout", "20",
    )  # fmt: skip

    assert died.code == 3, died.err
    line = died.error_line()
    assert "ended dead" in line and message in line
    task_id = line.split()[2]
    assert (await task_of(direct, task_id))["status"] == "dead"

    waiting = await later(direct)
    timed_out = await cli(api_url, "wait", waiting["id"], "--timeout", "0.5", "--json")
    assert timed_out.code == 4, timed_out.err
    assert "has not finished after 0.5 s (it is scheduled)" in timed_out.error_line()
    assert timed_out.json()["id"] == waiting["id"]
    assert (await task_of(direct, waiting["id"]))["status"] == "scheduled"


def mixed_file(path: Path, tag: str) -> Path:
    """A file with every kind of line, each said by its comment."""
    echo = {"name": "echo", "delay_seconds": AN_HOUR}
    path.write_text(
        jsonl(
            {**echo, "payload": {"i": 1}},  # 1: new
            {**echo, "payload": {"i": 2}, "idempotency_key": f"{tag}-own"},  # 2: new
            {**echo, "payload": {"i": 2}, "idempotency_key": f"{tag}-own"},  # 3: line 2 again
            {**echo, "payload": {"i": 4}, "idempotency_key": f"{tag}-earlier"},  # 4: before
            {"name": "sleep", "payload": {"seconds": "long"}},  # 5: refused for its payload
            '{"name": "echo", "payload": ',  # 6: no JSON
            {"name": "echo", "priority": 42},  # 7: refused for its priority
            "",  # 8: blank
            {**echo, "payload": {"i": 9}},  # 9: new
            {**echo, "payload": {"i": 10}, "idempotency_key": f"{tag}-earlier"},  # 10: conflict
        )
    )
    return path


async def test_submit_file_says_what_became_of_every_line(api_url, direct, tmp_path):
    # Given a task submitted before with a key, and a file of every kind of line
    tag = marker()
    earlier = await later(direct, payload={"i": 4}, idempotency_key=f"{tag}-earlier")
    path = mixed_file(tmp_path / "tasks.jsonl", tag)

    # When it is submitted in batches of four
    ran = await cli(api_url, "submit-file", str(path), "--batch-size", "4", "--json")

    # Then every line is accounted for, and the command says some were rejected
    assert ran.code == 5, ran.err
    summary = ran.json()
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (3, 2, 4)
    lines = {item["line"]: item for item in summary["lines"]}
    outcomes = {number: item["outcome"] for number, item in lines.items()}
    assert outcomes == {
        1: "accepted", 2: "accepted", 3: "duplicate", 4: "duplicate", 5: "rejected",
        6: "rejected", 7: "rejected", 9: "accepted", 10: "rejected",
    }  # fmt: skip
    assert "payload.seconds" in lines[5]["reason"]
    assert "not JSON" in lines[6]["reason"]
    assert "priority" in lines[7]["reason"] and "42" in lines[7]["reason"]
    assert "different request" in lines[10]["reason"]

    # And the API holds the accepted tasks; the duplicates are the tasks of their keys
    for number, payload in ((1, {"i": 1}), (2, {"i": 2}), (9, {"i": 9})):
        assert (await task_of(direct, lines[number]["id"]))["payload"] == payload
    assert lines[3]["id"] == lines[2]["id"]
    assert lines[4]["id"] == earlier["id"]

    # And sent again, for people: the keyed lines are duplicates now, the others new tasks
    again = await cli(api_url, "submit-file", str(path))
    assert again.code == 5, again.err
    assert "accepted 2, duplicates 3, rejected 4" in again.out
    assert "not JSON" in again.out and "payload.seconds" in again.out


async def test_ls_filters_by_status_and_follows_pages(api_url, direct):
    # Given three echo tasks waiting for their time, one cancelled, and a waiting sleep task
    tasks = [await later(direct, payload={"n": n}) for n in range(3)]
    ids = {task["id"] for task in tasks}
    cancelled = await later(direct)
    assert (await direct.post(f"{SUBMIT}{cancelled['id']}/cancel")).status_code == 200
    sleeping = await later(direct, name="sleep")

    # When the scheduled echo tasks are listed a page of one at a time, every page
    listed = await cli(
        api_url, "ls", "--status", "scheduled", "--name", "echo", "--limit", "1", "--all", "--json"
    )

    # Then the three are there, and nothing but scheduled echo tasks
    assert listed.code == 0, listed.err
    items = listed.json()["items"]
    assert ids <= {item["id"] for item in items}
    assert {(item["status"], item["name"]) for item in items} == {("scheduled", "echo")}
    assert not {cancelled["id"], sleeping["id"]} & {item["id"] for item in items}
    other = await cli(api_url, "ls", "--status", "cancelled", "--limit", "1000", "--json")
    assert cancelled["id"] in {item["id"] for item in other.json()["items"]}

    # And for people: one page, the newest first, with where the next one starts
    page = await cli(api_url, "ls", "--name", "echo", "--status", "scheduled", "--limit", "1")
    assert page.code == 0 and tasks[-1]["id"] in page.out
    cursor = page.err.split("--cursor ")[1].split()[0]
    following = await cli(
        api_url, "ls", "--name", "echo", "--status", "scheduled", "--limit=1", "--cursor", cursor
    )
    assert tasks[-2]["id"] in following.out


async def test_dlq_ls_show_and_replay_with_an_edited_payload(api_url, direct, worker):
    # Given a task that died
    note = marker()
    died = await cli(
        api_url, "submit", "fail_unless_ok", "--payload", json.dumps({"note": note}),
        "--wait", "--timeout", "20", "--json",
    )  # fmt: skip
    assert died.code == 3, died.err
    task_id = died.json()["id"]

    # When the dead-letter queue is listed and the task shown
    listed = await cli(api_url, "dlq", "ls", "--error", note, "--json")
    table = await cli(api_url, "dlq", "ls", "--error", note)
    shown = await cli(api_url, "dlq", "show", task_id)

    # Then it is there with its error and traceback
    assert [item["id"] for item in listed.json()["items"]] == [task_id]
    assert task_id in table.out and f"not ok: {note}" in table.out
    assert shown.code == 0 and "Traceback" in shown.out and "Failed attempts" in shown.out

    # When it is replayed with a payload that lets it succeed
    edited = {"ok": True, "note": note}
    replayed = await cli(api_url, "dlq", "replay", task_id, "--payload", json.dumps(edited))
    assert replayed.code == 0 and f"replayed task {task_id}" in replayed.out
    finished = await cli(api_url, "wait", task_id, "--timeout", "20", "--json")

    # Then it succeeds, with the edited payload, once replayed
    assert finished.code == 0, finished.err
    task = await task_of(direct, task_id)
    assert (task["status"], task["replays"], task["result"]) == ("succeeded", 1, {"note": note})
    assert task["payload"]["ok"] is True


async def test_dlq_purge_and_bulk_replay_ask_first(api_url, direct, worker):
    tag = marker()
    one, two, three = [await dead(direct, f"{tag} {n}") for n in ("one", "two", "three")]

    # A purge asks first: with no answer nothing is deleted
    refused = await cli(api_url, "dlq", "purge", "--error", f"{tag} two")
    assert refused.code == 1 and "not confirmed" in refused.err
    assert (await direct.get(f"{DEAD_LETTER}{two}")).status_code == 200

    # One by id, and by filter, with --yes
    by_id = await cli(api_url, "dlq", "purge", one, "--yes")
    by_filter = await cli(api_url, "dlq", "purge", "--error", f"{tag} two", "--yes", "--json")
    assert by_id.code == 0 and by_filter.json() == {"deleted": 1}
    for purged in (one, two):
        assert (await direct.get(f"{RESULTS}{purged}")).status_code == 404

    # A bulk replay asks too, and goes ahead on a yes
    replayed = await cli(api_url, "dlq", "replay", "--error", tag, "--json", stdin="y\n")
    assert replayed.code == 0, replayed.err
    assert (replayed.json()["replayed"], replayed.json()["ids"]) == (1, [three])
    assert (await task_of(direct, three))["replays"] == 1

    # And without a filter or --all, nothing is selected
    unselected = await cli(api_url, "dlq", "purge", "--yes")
    assert unselected.code == 2 and "--all" in unselected.error_line()


async def test_stats_json_is_what_the_api_says(api_url, direct, worker):
    # Given a task that ran on the default queue
    echo = await direct.post(SUBMIT, json={"name": "echo"})
    assert (await wait_terminal(direct, echo.json()["id"]))["status"] == "succeeded"

    async def agreed() -> tuple[Any, Any] | None:
        before = (await direct.get(QUEUES)).json()
        ran = await cli(api_url, "stats", "--json")
        after = (await direct.get(QUEUES)).json()
        assert ran.code == 0, ran.err
        return (ran.json(), before) if before == after else None

    # When nothing changes between two reads of the API, the command read the same
    printed, said = await wait_for(agreed, timeout=20, what="queue stats to hold still")
    assert printed == said
    default = next(queue for queue in printed["queues"] if queue["name"] == "default")
    assert default["consumers"] >= 1 and default["tasks"]["succeeded"] >= 1

    # And for people (not a terminal): the table, once
    table = await cli(api_url, "stats")
    assert table.code == 0 and "default" in table.out and "consumers" in table.out


async def test_failures_are_one_line_with_an_exit_code(api_url, tmp_path):
    async with new_session() as session:
        reader = await create_key(session=session, tenant=TENANT, role=Role.READ)
    nowhere = f"http://127.0.0.1:{free_port()}"
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * (1024 * 1024 + 1)}))
    cases = [
        (["ls"], {"key": None}, 1, "no API key: pass --key or set TASKGATE_KEY"),
        (["ls"], {"key": "tg_000000000000_wrong"}, 1, "the API key was refused"),
        (["stats"], {"key": reader.key}, 1, "lacks the role for this: purging, bulk"),
        (["ls", "--url", nowhere], {}, 1, f"reach Taskgate at {nowhere}: connection refused"),
        (["submit", "echo", "--payload", "{nope"], {}, 2, "--payload is not JSON"),
        (["submit", "echo", "--priority", "12"], {}, 1, "priority: Input should be less than"),
        (["submit", "nope"], {}, 1, "name: unknown handler 'nope'"),
        (["submit", "echo", "--payload", f"@{big}"], {}, 1, "too large"),
        (["status", str(uuid.uuid4())], {}, 1, "not found: no task with id"),
        (["submit-file", str(tmp_path / "none.jsonl")], {}, 2, "no such file or directory"),
        (["ls", "--status", "lost"], {}, 1, "invalid input: status.0: Input should be"),
    ]
    for args, options, code, expected in cases:
        ran = await cli(api_url, *args, **options)
        assert ran.code == code, (args, ran)
        assert expected in ran.error_line(), (args, ran.err)
        assert ran.out == "", (args, ran.out)


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "expected"),
    [
        (429, {"detail": "too many requests for this API key"}, "3", "retry after 3 s"),
        (503, {"detail": "the task database is unavailable"}, "2", "unavailable"),
        (500, {"detail": "internal error"}, None, "Taskgate failed (HTTP 500): internal error"),
        (413, {"detail": "MAX_REQUEST_BYTES"}, None, "too large: MAX_REQUEST_BYTES"),
    ],
)
def test_answers_no_test_provokes_are_said_in_one_line(status, body, retry_after, expected):
    said = describe(status, body, retry_after=retry_after, key_given=True)
    assert expected in said and "\n" not in said
