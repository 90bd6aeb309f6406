"""Webhooks: signed POSTs of task events to a real receiver on 127.0.0.1, sent by the
senders of the in-process API and of a real worker (WEBHOOK_ALLOW_PRIVATE=true in the
tests' settings); events recorded by the tasks table's trigger, in the transaction that
changed the task; targets on private addresses refused where the setting is off."""

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.main import create_app
from db.create_database import connect
from db.models import Role
from services.webhooks.pruning import DeliveryPruning
from tests.conftest import KeyedFactory
from tests.support.api import SUBMIT, in_process_client, marker, wait_terminal
from tests.support.cli import later
from tests.support.database import shared_database
from tests.support.settings import SETTINGS, settings_with
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import Received, Receiver, receiving

pytestmark = pytest.mark.integration

WEBHOOKS = "/api/v1/webhooks"
SETTING = "WEBHOOK_ALLOW_PRIVATE=true"
DELIVERY_TIMEOUT = 15.0


@dataclass
class Tenant:
    """A tenant of its own, and a client with an admin key of it."""

    name: str
    http: httpx.AsyncClient


TenantFactory = Callable[..., Awaitable[Tenant]]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as listening:
        yield listening


@pytest.fixture
async def new_tenant(keyed: KeyedFactory) -> AsyncIterator[TenantFactory]:
    """Make tenants of their own; their webhooks (and deliveries) go after the test."""
    made: list[str] = []

    async def make(role: Role = Role.ADMIN) -> Tenant:
        name = f"hooks-{marker()[:10]}"
        made.append(name)
        return Tenant(name=name, http=(await keyed(name, role)).http)

    yield make
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        await connection.execute("DELETE FROM webhooks WHERE tenant = ANY($1::text[])", made)
    finally:
        await connection.close()


async def create_webhook(
    tenant: Tenant, url: str, events: tuple[str, ...] = ("task.succeeded",)
) -> dict[str, Any]:
    response = await tenant.http.post(WEBHOOKS, json={"url": url, "events": list(events)})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def deliveries_of(http: httpx.AsyncClient, webhook_id: str, **query: Any) -> dict[str, Any]:
    response = await http.get(f"{WEBHOOKS}/{webhook_id}/deliveries", params=query)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def cancelled_task(tenant: Tenant) -> str:
    """A task of the tenant, scheduled for later and cancelled now: a task.cancelled event
    with no worker involved."""
    task = await later(tenant.http)
    response = await tenant.http.post(f"{SUBMIT}{task['id']}/cancel")
    assert response.status_code == 200, response.text
    return str(task["id"])


async def arrived(receiver: Receiver, path: str, count: int = 1) -> list[Received]:
    async def enough() -> list[Received] | None:
        found = receiver.at(path)
        return found if len(found) >= count else None

    return await wait_for(enough, timeout=DELIVERY_TIMEOUT, what=f"{count} POST(s) to {path}")


def signed_by(secret: str, received: Received) -> bool:
    """Whether Taskgate-Signature is `t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>">`."""
    parts = dict(part.split("=", 1) for part in received.headers["taskgate-signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + received.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def test_a_task_a_worker_ran_is_posted_to_the_webhook_signed(new_tenant, receiver, worker):
    # Given a webhook for task.succeeded
    tenant, path = await new_tenant(), f"/ok/{marker()}"
    webhook = await create_webhook(tenant, receiver.url(path))
    assert webhook["secret"].startswith("whsec_") and webhook["events"] == ["task.succeeded"]

    # When a worker runs a task of the tenant
    response = await tenant.http.post(SUBMIT, json={"name": "echo", "payload": {"n": marker()}})
    assert response.status_code == 202, response.text
    task = await wait_terminal(tenant.http, response.json()["id"])
    assert task["status"] == "succeeded"

    # Then the receiver gets one POST, signed with the secret, naming the event and its id
    [received] = await arrived(receiver, path)
    body = received.json()
    assert received.method == "POST"
    assert received.headers["content-type"] == "application/json"
    assert signed_by(webhook["secret"], received)
    assert not signed_by("whsec_another", received)
    assert received.headers["taskgate-event"] == body["event"] == "task.succeeded"
    assert received.headers["taskgate-event-id"] == body["event_id"]
    # And it carries the task as GET /api/v1/result/{id} shows it
    assert body["task"] == task

    # And its delivery is listed as delivered, at the first attempt
    async def delivered() -> dict[str, Any] | None:
        [delivery] = (await deliveries_of(tenant.http, webhook["id"]))["items"]
        return delivery if delivery["status"] == "delivered" else None

    delivery = await wait_for(delivered, timeout=DELIVERY_TIMEOUT, what="the delivery recorded")
    assert (delivery["event_id"], delivery["task_id"]) == (body["event_id"], task["id"])
    assert delivery["attempts"] == 1 and delivery["next_attempt_at"] is None
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["latency_ms"] >= 0


async def test_a_failing_receiver_gets_the_same_event_again_until_it_answers_2xx(
    new_tenant, receiver
):
    # Given a receiver that answers 500 twice, then 200
    tenant, path = await new_tenant(), f"/flaky/{marker()}"
    receiver.script(path, 500, 500)
    webhook = await create_webhook(tenant, receiver.url(path), ("task.cancelled",))

    # When a task of the tenant is cancelled
    task_id = await cancelled_task(tenant)

    # Then the same event, under the same id, arrives three times, each one signed
    posts = await arrived(receiver, path, 3)
    assert {post.headers["taskgate-event-id"] for post in posts} == {posts[0].json()["event_id"]}
    assert all(signed_by(webhook["secret"], post) for post in posts)
    assert {post.json()["task"]["id"] for post in posts} == {task_id}

    # And the delivery shows its three attempts, the two failures with why
    async def delivered() -> dict[str, Any] | None:
        [delivery] = (await deliveries_of(tenant.http, webhook["id"]))["items"]
        return delivery if delivery["status"] == "delivered" else None

    delivery = await wait_for(delivered, timeout=DELIVERY_TIMEOUT, what="the delivery recorded")
    assert delivery["attempts"] == 3
    log = delivery["attempt_log"]
    assert [attempt["status_code"] for attempt in log] == [500, 500, 200]
    assert [attempt["error"] for attempt in log] == ["answered 500", "answered 500", None]


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(new_tenant, receiver):
    # Given a receiver that redirects elsewhere
    tenant, path, elsewhere = await new_tenant(), f"/moved/{marker()}", f"/target/{marker()}"
    receiver.script(path, (307, {"Location": receiver.url(elsewhere)}))
    webhook = await create_webhook(tenant, receiver.url(path), ("task.cancelled",))

    # When an event is delivered
    await cancelled_task(tenant)

    # Then its first attempt is recorded as a failure: the redirect, not followed
    async def first_attempt() -> dict[str, Any] | None:
        [delivery] = (await deliveries_of(tenant.http, webhook["id"]))["items"]
        return delivery if delivery["attempt_log"] else None

    delivery = await wait_for(first_attempt, timeout=DELIVERY_TIMEOUT, what="an attempt")
    attempt = delivery["attempt_log"][0]
    assert attempt["status_code"] == 307
    assert "redirect" in attempt["error"] and "not followed" in attempt["error"]
    assert delivery["status"] in ("failing", "delivered")
    # (a followed redirect would have reached `elsewhere` before the attempt was recorded)
    assert receiver.at(elsewhere) == []


@pytest.fixture
async def strict_api(new_tenant) -> AsyncIterator[Tenant]:
    """An API with WEBHOOK_ALLOW_PRIVATE off (and no sender of its own), and an admin of a
    tenant of its own on it."""
    app = create_app(settings_with(webhook_allow_private=False, webhook_concurrency=0))
    tenant = await new_tenant()
    key = tenant.http.headers["authorization"]
    async with (
        app.router.lifespan_context(app),
        in_process_client(app, {"Authorization": key}) as http,
    ):
        yield Tenant(name=tenant.name, http=http)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:192.168.0.1]/hook", "private"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://localhost:9000/hook", "loopback"),
        ("http://hooks.localhost/", "loopback"),
    ],
)
async def test_a_private_target_is_refused_unless_the_setting_allows_it(strict_api, url, kind):
    response = await strict_api.http.post(WEBHOOKS, json={"url": url, "events": ["task.dead"]})

    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "url"]
    assert f"{kind} address" in detail["msg"] and SETTING in detail["msg"], detail["msg"]


async def test_a_public_address_is_accepted_and_bad_input_is_a_clear_422(strict_api):
    # A public literal address needs no lookup, and is allowed
    made = await strict_api.http.post(
        WEBHOOKS, json={"url": "https://93.184.215.14/hook", "events": ["task.dead"]}
    )
    assert made.status_code == 201, made.text

    for body, loc, said in (
        ({"url": "ftp://93.184.215.14/", "events": ["task.dead"]}, ["body", "url"], "http://"),
        ({"url": "https://", "events": ["task.dead"]}, ["body", "url"], "host"),
        ({"url": "https://u:p@93.184.215.14/", "events": ["task.dead"]}, ["body", "url"], "cred"),
        (
            {"url": "https://93.184.215.14/", "events": ["task.queued"]},
            ["body", "events", 0],
            "'task.succeeded', 'task.dead' or 'task.cancelled'",
        ),
        ({"url": "https://93.184.215.14/", "events": []}, ["body", "events"], "at least 1"),
    ):
        response = await strict_api.http.post(WEBHOOKS, json=body)
        assert response.status_code == 422, (body, response.text)
        [detail] = response.json()["detail"]
        assert detail["loc"] == loc and said in detail["msg"], detail


async def test_the_secret_is_shown_once_and_reading_keys_may_only_list(new_tenant, keyed, receiver):
    # Given a webhook
    tenant = await new_tenant()
    webhook = await create_webhook(tenant, receiver.url(f"/quiet/{marker()}"))

    # Then the listing shows it, without its secret
    listed = await tenant.http.get(WEBHOOKS)
    assert listed.status_code == 200
    [shown] = listed.json()
    assert shown["id"] == webhook["id"] and "secret" not in shown
    assert webhook["secret"] not in listed.text

    # And a read key of the tenant may list webhooks and deliveries, not make or delete them
    reader = (await keyed(tenant.name, Role.READ)).http
    assert [item["id"] for item in (await reader.get(WEBHOOKS)).json()] == [webhook["id"]]
    assert (await reader.get(f"{WEBHOOKS}/{webhook['id']}/deliveries")).status_code == 200
    made = await reader.post(WEBHOOKS, json={"url": receiver.url("/x"), "events": ["task.dead"]})
    assert made.status_code == 403 and "admin" in made.json()["detail"]
    assert (await reader.delete(f"{WEBHOOKS}/{webhook['id']}")).status_code == 403


async def test_another_tenants_webhook_is_not_found(new_tenant, receiver):
    # Given a webhook of one tenant
    owner, other = await new_tenant(), await new_tenant()
    webhook = await create_webhook(owner, receiver.url(f"/mine/{marker()}"))

    # Then another tenant neither sees it nor reaches it
    assert (await other.http.get(WEBHOOKS)).json() == []
    for response in (
        await other.http.get(f"{WEBHOOKS}/{webhook['id']}/deliveries"),
        await other.http.delete(f"{WEBHOOKS}/{webhook['id']}"),
    ):
        assert response.status_code == 404, response.text
        assert "no webhook" in response.json()["detail"]
    # And it is still there for its owner, who may delete it (once)
    assert (await owner.http.delete(f"{WEBHOOKS}/{webhook['id']}")).status_code == 204
    assert (await owner.http.delete(f"{WEBHOOKS}/{webhook['id']}")).status_code == 404


async def test_an_event_of_another_tenant_never_reaches_this_tenants_webhook(new_tenant, receiver):
    # Given two tenants, each with a webhook for task.cancelled
    mine, theirs = await new_tenant(), await new_tenant()
    my_path, their_path = f"/mine/{marker()}", f"/theirs/{marker()}"
    my_webhook = await create_webhook(mine, receiver.url(my_path), ("task.cancelled",))
    await create_webhook(theirs, receiver.url(their_path), ("task.cancelled",))

    # When the other tenant's task is cancelled
    their_task = await cancelled_task(theirs)

    # Then it reaches their webhook; the same statement recorded none for mine
    [post] = await arrived(receiver, their_path)
    assert post.json()["task"]["id"] == their_task
    assert post.json()["task"]["tenant"] == theirs.name
    assert (await deliveries_of(mine.http, my_webhook["id"]))["items"] == []
    assert receiver.at(my_path) == []


async def test_events_are_recorded_in_the_transaction_that_changes_the_task(new_tenant, receiver):
    # Given a webhook for task.dead and task.cancelled, and three tasks waiting to run
    tenant = await new_tenant()
    webhook = await create_webhook(
        tenant, receiver.url(f"/tx/{marker()}"), ("task.dead", "task.cancelled")
    )
    webhook_id = uuid.UUID(webhook["id"])
    ids = [uuid.UUID((await later(tenant.http))["id"]) for _ in range(3)]
    writer = await connect(SETTINGS, SETTINGS.db_name)
    onlooker = await connect(SETTINGS, SETTINGS.db_name)

    async def recorded(connection: Any) -> list[tuple[str, uuid.UUID]]:
        rows = await connection.fetch(
            "SELECT event, task_id FROM webhook_deliveries WHERE webhook_id = $1", webhook_id
        )
        return sorted((row["event"], row["task_id"]) for row in rows)

    try:
        # When, in one transaction, one statement ends two of them (dead, cancelled) and
        # requeues the third, and another changes no status
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute(
            "UPDATE tasks SET status = CASE WHEN id = $1 THEN 'dead' WHEN id = $2 "
            "THEN 'cancelled' ELSE 'queued' END WHERE id = ANY($3::uuid[])",
            ids[0],
            ids[1],
            ids,
        )
        await writer.execute("UPDATE tasks SET priority = 1 WHERE id = ANY($1::uuid[])", ids[:2])
        inside, outside = await recorded(writer), await recorded(onlooker)
        # And the transaction is rolled back
        await transaction.rollback()
        after = await recorded(onlooker)
    finally:
        await writer.close()
        await onlooker.close()

    # Then the transaction saw one event per task it finished, as it finished
    assert inside == [("task.cancelled", ids[1]), ("task.dead", ids[0])]
    # And nobody saw them before a commit, and the rollback left none
    assert outside == []
    assert after == []
    for task_id in ids:
        assert (await tenant.http.get(f"/api/v1/result/{task_id}")).json()["status"] == "scheduled"


async def test_deleting_a_webhook_drops_its_pending_deliveries(new_tenant, receiver):
    # Given a webhook whose receiver keeps failing, and a delivery it failed once
    tenant, path = await new_tenant(), f"/down/{marker()}"
    receiver.script(path, *[503] * 50)
    webhook = await create_webhook(tenant, receiver.url(path), ("task.cancelled",))
    await cancelled_task(tenant)
    await arrived(receiver, path)

    # When the webhook is deleted
    assert (await tenant.http.delete(f"{WEBHOOKS}/{webhook['id']}")).status_code == 204

    # Then no delivery of it is left to be sent
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        left = await connection.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1",
            uuid.UUID(webhook["id"]),
        )
    finally:
        await connection.close()
    assert left == 0


async def test_deliveries_are_listed_newest_first_a_page_at_a_time(new_tenant, receiver):
    # Given two events, one after the other
    tenant = await new_tenant()
    webhook = await create_webhook(tenant, receiver.url(f"/pages/{marker()}"), ("task.cancelled",))
    first, second = await cancelled_task(tenant), await cancelled_task(tenant)

    # When the deliveries are read one per page
    page = await deliveries_of(tenant.http, webhook["id"], limit=1)
    rest = await deliveries_of(tenant.http, webhook["id"], limit=1, cursor=page["next_cursor"])

    # Then the newest comes first, and the cursor leads to the other
    assert [item["task_id"] for item in page["items"]] == [second]
    assert [item["task_id"] for item in rest["items"]] == [first]
    assert rest["next_cursor"] is None
    assert all(item["event"] == "task.cancelled" for item in page["items"] + rest["items"])


async def test_finished_deliveries_are_deleted_once_past_the_retention(new_tenant, receiver):
    # Given deliveries of a webhook: delivered long ago, delivered just now, failing long ago
    tenant = await new_tenant()
    webhook = await create_webhook(tenant, receiver.url(f"/old/{marker()}"), ("task.dead",))
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        for status, age, label in (
            ("delivered", "30 days", "old"),
            ("delivered", "1 minute", "recent"),
            ("failing", "30 days", "unfinished"),
        ):
            await connection.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event, event_id, task_id, task, "
                "status, occurred_at, next_attempt_at) VALUES ($1, 'task.dead', "
                "gen_random_uuid(), gen_random_uuid(), jsonb_build_object('label', $2::text), "
                "$3, now() - $4::text::interval, "
                "CASE WHEN $3 = 'failing' THEN now() + interval '1 day' END)",
                uuid.UUID(webhook["id"]), label, status, age,
            )  # fmt: skip

        # When the pruning runs, keeping finished deliveries an hour
        pruning = DeliveryPruning(
            database=shared_database(), settings=settings_with(retention_succeeded_seconds=3600)
        )
        more = await pruning.run_once()

        # Then only the old delivered one is gone
        left = await connection.fetch(
            "SELECT task ->> 'label' AS label FROM webhook_deliveries WHERE webhook_id = $1",
            uuid.UUID(webhook["id"]),
        )
    finally:
        await connection.close()
    assert sorted(row["label"] for row in left) == ["recent", "unfinished"]
    assert more is False
