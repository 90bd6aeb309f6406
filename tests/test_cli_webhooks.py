"""`taskgate webhooks` over HTTP: the console script against a real API process (whose sender
posts to a receiver on 127.0.0.1); every outcome is read back from the API."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from db.models import Role
from services.keys import create_key
from tests.support.api import SUBMIT, marker
from tests.support.cli import api_process, later, taskgate
from tests.support.database import new_session
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration

WEBHOOKS = "/api/v1/webhooks"


@pytest.fixture(scope="module")
async def api_url(migrated_database: None, clean_broker: None) -> AsyncIterator[str]:
    """A real API process, for the command to talk to."""
    async with api_process() as url:
        yield url


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as listening:
        yield listening


@pytest.fixture
async def admin_key() -> str:
    """An admin key of a tenant of its own: its webhooks hear of no other test's tasks."""
    async with new_session() as session:
        made = await create_key(
            session=session, tenant=f"cli-hooks-{marker()[:8]}", role=Role.ADMIN
        )
    return made.key


async def test_create_list_deliveries_and_remove_a_webhook(api_url, receiver, admin_key):
    path = f"/cli/{marker()}"

    # When a webhook is made for task.cancelled
    made = await taskgate(
        "webhooks", "create", receiver.url(path), "--event", "task.cancelled",
        url=api_url, key=admin_key,
    )  # fmt: skip

    # Then its id is said, and its secret is the last line, alone
    assert made.code == 0, made.err
    *said, secret = made.out.strip().splitlines()
    assert secret.startswith("whsec_") and "not shown again" in " ".join(said)
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=10
    ) as direct:
        [webhook] = (await direct.get(WEBHOOKS)).json()
        assert webhook["id"] in made.out and webhook["events"] == ["task.cancelled"]

        # And ls shows it, never its secret
        listed = await taskgate("webhooks", "ls", url=api_url, key=admin_key)
        as_json = await taskgate("webhooks", "ls", "--json", url=api_url, key=admin_key)
        assert listed.code == 0 and webhook["id"] in listed.out and path in listed.out
        assert as_json.json() == [webhook] and secret not in listed.out + as_json.out

        # When a task of the tenant is cancelled, and the event delivered
        task = await later(direct)
        assert (await direct.post(f"{SUBMIT}{task['id']}/cancel")).status_code == 200

        async def delivered() -> dict[str, Any] | None:
            shown = await taskgate(
                "webhooks", "deliveries", webhook["id"], "--json", url=api_url, key=admin_key
            )
            items = shown.json()["items"]
            return items[0] if items and items[0]["status"] == "delivered" else None

        delivery = await wait_for(delivered, timeout=15, what="the delivery")

    # Then deliveries shows it, for scripts and for people
    assert delivery["task_id"] == task["id"] and delivery["event"] == "task.cancelled"
    assert receiver.at(path)[0].headers["taskgate-event-id"] == delivery["event_id"]
    table = await taskgate("webhooks", "deliveries", webhook["id"], url=api_url, key=admin_key)
    assert table.code == 0 and task["id"] in table.out and "delivered" in table.out

    # And rm deletes it, once; a second rm says there is none, in one line
    removed = await taskgate("webhooks", "rm", webhook["id"], url=api_url, key=admin_key)
    assert removed.code == 0 and f"deleted webhook {webhook['id']}" in removed.out
    again = await taskgate("webhooks", "rm", webhook["id"], url=api_url, key=admin_key)
    assert again.code == 1 and "no webhook" in again.error_line()


async def test_an_invalid_webhook_is_refused_in_one_line(api_url, admin_key):
    bad_url = await taskgate("webhooks", "create", "ftp://example.com/", url=api_url, key=admin_key)
    bad_event = await taskgate(
        "webhooks", "create", "https://93.184.215.14/", "--event", "task.queued",
        url=api_url, key=admin_key,
    )  # fmt: skip

    assert bad_url.code == 1
    assert "url" in bad_url.error_line() and "http://" in bad_url.error_line()
    assert bad_event.code == 1
    line = bad_event.error_line()
    assert "events" in line and "task.succeeded" in line and "task.cancelled" in line
