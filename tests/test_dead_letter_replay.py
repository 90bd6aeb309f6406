"""Replaying dead tasks, one (optionally with an edited payload) or by filter."""

import asyncio
import json
import uuid

import pytest

from db.tasks.filters import DeadLetterFilter
from services import replay
from tests.support import rabbit
from tests.support.api import (
    error_locations,
    get_task,
    marker,
    submit,
    wait_recorded,
    wait_status,
    wait_terminal,
)
from tests.support.database import new_session
from tests.support.dead_letters import DEAD_LETTER, DYING, execute_sql, make_dead
from tests.support.settings import SETTINGS
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

REPLAY = f"{DEAD_LETTER}replay"


def replay_path(task_id: str) -> str:
    return f"{DEAD_LETTER}{task_id}/replay"


async def wait_dead_again(client, task_id: str) -> dict:
    """Wait until a replayed task has run and died again (its history grew by two)."""

    async def died_again() -> dict | None:
        task = await get_task(client, task_id)
        return task if task["status"] == "dead" and len(task["errors"]) == 4 else None

    return await wait_for(died_again, timeout=20, what=f"task {task_id} to die again")


async def test_replay_with_an_edited_payload_runs_the_task_to_success_keeping_its_history(
    client, worker_log
):
    # Given a task that died after two attempts
    note = marker()
    (dead,) = await make_dead(client, [note])
    assert dead["attempts"] == 2 and len(dead["errors"]) == 2

    # When it is replayed with a payload that lets it succeed
    response = await client.post(replay_path(dead["id"]), json={"payload": {"ok": True}})

    # Then it is queued again with a fresh attempt count, the new payload (defaults filled
    # in) and its history; and it then succeeds on its first new attempt
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued"
    assert (queued["attempts"], queued["replays"]) == (0, 1)
    assert queued["payload"] == {"ok": True, "note": "", "seconds": 0.0}
    assert queued["error"] is None and queued["finished_at"] is None
    assert queued["errors"] == dead["errors"]
    done = await wait_terminal(client, dead["id"])
    assert done["status"] == "succeeded"
    assert (done["attempts"], done["replays"]) == (1, 1)
    assert done["errors"] == dead["errors"]
    assert done["result"] == {"note": ""}


async def test_replay_without_a_body_runs_the_stored_payload_again(client, worker_log):
    # Given a task that died after two attempts
    note = marker()
    (dead,) = await make_dead(client, [note])

    # When it is replayed as it was
    response = await client.post(replay_path(dead["id"]))

    # Then it runs again with its own payload, dies again, and its history has all four
    # attempts, numbered afresh after the replay
    assert response.status_code == 202, response.text
    again = await wait_dead_again(client, dead["id"])
    assert again["payload"] == dead["payload"]
    assert (again["attempts"], again["replays"]) == (2, 1)
    assert [entry["attempt"] for entry in again["errors"]] == [1, 2, 1, 2]
    assert note in again["error"]


async def test_concurrent_replays_of_one_task_replay_it_once(client, worker_log):
    # Given a dead task
    (dead,) = await make_dead(client, [marker()])

    # When five replays of it are sent at once
    responses = await asyncio.gather(
        *(client.post(replay_path(dead["id"]), json={"payload": {"ok": True}}) for _ in range(5))
    )

    # Then exactly one is accepted; the others are 409s saying it is no longer dead
    codes = sorted(response.status_code for response in responses)
    assert codes == [202, 409, 409, 409, 409], [r.text for r in responses]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all(body["status"] != "dead" for body in refused), refused
    done = await wait_terminal(client, dead["id"])
    assert (done["status"], done["replays"]) == ("succeeded", 1)


async def test_replay_of_a_task_that_is_not_dead_is_409_with_its_status(client, worker_log):
    # Given a task that succeeded
    task = await submit(client, "echo", {"marker": marker()})
    await wait_terminal(client, task["id"])

    # When it is replayed
    response = await client.post(replay_path(task["id"]))

    # Then the answer is a 409 saying what it is, and it is left alone
    assert response.status_code == 409
    assert response.json()["status"] == "succeeded"
    assert (await get_task(client, task["id"]))["replays"] == 0


async def test_replay_of_an_unknown_id_is_404(client):
    response = await client.post(replay_path(str(uuid.uuid4())))
    assert response.status_code == 404


async def test_replay_with_a_payload_that_does_not_fit_is_422_naming_the_field(client, worker_log):
    # Given a dead task
    (dead,) = await make_dead(client, [marker()])

    # When it is replayed with a payload its handler does not accept, or with a body that
    # is not the replay request
    bad_payload = await client.post(replay_path(dead["id"]), json={"payload": {"ok": "maybe"}})
    bad_body = await client.post(replay_path(dead["id"]), json={"paylod": {}})

    # Then each is a 422 naming the field, and the task stays dead, never replayed
    assert bad_payload.status_code == 422, bad_payload.text
    assert error_locations(bad_payload) == [["body", "payload", "ok"]]
    assert bad_body.status_code == 422, bad_body.text
    assert error_locations(bad_body) == [["body", "paylod"]]
    task = await get_task(client, dead["id"])
    assert (task["status"], task["replays"]) == ("dead", 0)


async def test_replay_of_a_task_whose_handler_no_longer_exists_is_422_naming_it(client, worker_log):
    # Given a dead task whose handler has since been removed
    (dead,) = await make_dead(client, [marker()])
    retired = f"retired-{marker()}"
    await execute_sql("UPDATE tasks SET name = :name WHERE id = :id", name=retired, id=dead["id"])

    # When it is replayed
    response = await client.post(replay_path(dead["id"]))

    # Then the answer is a 422 naming the handler
    assert response.status_code == 422, response.text
    assert error_locations(response) == [["path", "task_id"]]
    assert retired in response.json()["detail"][0]["msg"]
    assert (await get_task(client, dead["id"]))["status"] == "dead"


async def test_replay_of_an_unreadable_message_record_is_422(operator_client, worker_log):
    # Given the dead-letter record of a message that broke the task contract (no task was
    # ever submitted under its id)
    record_id = str(uuid.uuid4())
    body = json.dumps({"id": record_id, "name": DYING, "payload": {}, "priority": 99})
    await rabbit.publish_raw(
        SETTINGS.rmq_queue_exchange,
        rabbit.DEFAULT_ROUTE,
        body.encode(),
        "text/plain",
    )
    record = await wait_recorded(operator_client, record_id)
    assert record["status"] == "dead"

    # When it is replayed (by an operator: it belongs to no tenant)
    response = await operator_client.post(replay_path(record_id))

    # Then the answer is a 422 explaining there is no task to run
    assert response.status_code == 422, response.text
    assert "not a submitted task" in response.json()["detail"][0]["msg"]


async def test_bulk_replay_replays_the_longest_dead_matching_tasks_up_to_the_limit(
    client, worker_log
):
    # Given three dead tasks whose errors share a marker, and one that does not
    tag = marker()
    matching = await make_dead(client, [f"{tag} one", f"{tag} two", f"{tag} three"])
    (other,) = await make_dead(client, [marker()])

    # When dead tasks with the marker are replayed, at most two
    response = await client.post(REPLAY, json={"error": tag, "name": [DYING], "limit": 2})

    # Then the two that died first are replayed, and the third and the other one are not
    assert response.status_code == 202, response.text
    answer = response.json()
    first_two = sorted(matching, key=lambda task: task["finished_at"])[:2]
    assert answer["replayed"] == 2 and answer["skipped"] == 0
    assert set(answer["ids"]) == {task["id"] for task in first_two}
    for task in matching + [other]:
        replays = 1 if task["id"] in answer["ids"] else 0
        assert (await get_task(client, task["id"]))["replays"] == replays
    for task_id in answer["ids"]:
        await wait_dead_again(client, task_id)


@pytest.mark.parametrize(
    ("body", "location", "says"),
    [
        ({"limit": 10}, ["body"], "all=true"),
        ({"error": "x"}, ["body", "limit"], "required"),
        ({"error": "x", "limit": 10_001}, ["body", "limit"], "10000"),
        ({"error": "x", "limit": 10, "died_after": "2030-01-01"}, ["body", "died_after"], "time"),
    ],
)
async def test_bulk_replay_needs_an_explicit_selection_and_a_sane_limit(
    client, body, location, says
):
    # Given a bulk replay without a filter, without a limit, over the limit, or with a
    # time without a zone
    # When it is sent
    response = await client.post(REPLAY, json=body)

    # Then it is a 422 naming what is wrong
    assert response.status_code == 422, response.text
    assert error_locations(response) == [location]
    assert says in response.json()["detail"][0]["msg"]


async def test_bulk_replay_with_all_replays_any_dead_task(client, worker_log):
    # Given at least one dead task
    await make_dead(client, [marker()])

    # When every dead task is replayed, one at most
    response = await client.post(REPLAY, json={"all": True, "limit": 1})

    # Then one (whichever died first) is replayed
    assert response.status_code == 202, response.text
    (replayed,) = response.json()["ids"]
    assert (await get_task(client, replayed))["replays"] >= 1


async def test_bulk_replay_goes_through_batches_and_skips_what_cannot_run(
    client, api_runtime, worker_log
):
    # Given five dead tasks sharing a marker, one of whose handler has since been removed
    tag = marker()
    tasks = await make_dead(client, [f"{tag} {n}" for n in range(5)])
    retired = tasks[0]["id"]
    await execute_sql("UPDATE tasks SET name = 'retired' WHERE id = :id", id=retired)

    # When they are replayed two per transaction
    async with new_session() as session:
        outcome = await replay.replay_matching(
            session=session,
            outbox=api_runtime.outbox,
            selection=DeadLetterFilter(error=tag),
            limit=10,
            limits=api_runtime.payload_limits,
            batch_size=2,
        )

    # Then the four that can run are replayed, and the other is counted as skipped
    assert sorted(map(str, outcome.replayed)) == sorted(task["id"] for task in tasks[1:])
    assert outcome.skipped == 1
    assert (await get_task(client, retired))["status"] == "dead"
    for task in tasks[1:]:
        await wait_dead_again(client, task["id"])


async def test_replayed_task_whose_publish_failed_is_sent_by_the_relay(
    client, api_runtime, worker_log, monkeypatch
):
    # Given a dead task, and a broker that does not confirm this process's publishes
    (dead,) = await make_dead(client, [marker()])

    async def unconfirmed(messages: list[object]) -> list[BaseException | None]:
        return [TimeoutError("the broker did not confirm the publish") for _ in messages]

    monkeypatch.setattr(api_runtime.publishers, "publish_tasks", unconfirmed)

    # When it is replayed
    response = await client.post(replay_path(dead["id"]), json={"payload": {"ok": True}})

    # Then the replay is accepted all the same, and the outbox relay sends the task
    assert response.status_code == 202, response.text
    monkeypatch.undo()
    done = await wait_terminal(client, dead["id"])
    assert (done["status"], done["replays"]) == ("succeeded", 1)


async def test_late_dead_letter_of_the_previous_death_does_not_kill_a_replayed_task(
    client, api_runtime, worker_log
):
    # Given a dead task, replayed to run for two seconds and succeed
    (dead,) = await make_dead(client, [marker()])
    response = await client.post(
        replay_path(dead["id"]), json={"payload": {"ok": True, "seconds": 2}}
    )
    assert response.status_code == 202, response.text
    await wait_status(client, dead["id"], "running")

    # When the dead-letter message of its earlier death arrives only now (the dead-letter
    # queue was behind), as the worker sent it
    await api_runtime.publishers.publish_dead_letter(
        {"id": dead["id"], "name": DYING, "payload": dead["payload"]},
        reason=dead["error"],
        task_id=dead["id"],
        recorded=True,
    )

    # Then the replayed run is not cut short: the task succeeds
    done = await wait_terminal(client, dead["id"])
    assert (done["status"], done["error"]) == ("succeeded", None)
