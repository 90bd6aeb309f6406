"""The dashboard in a real browser, against a real API process and a real worker: sign in,
live figures that agree with the API, a task's detail, a replay and a cancel by click,
tenants kept apart, signing out, and a revoked key sent back to the login form."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.api import SUBMIT, marker, wait_status
from tests.support.browser import WatchedPage
from tests.support.settings import ADMIN_KEY, AUTH_HEADERS, OPERATOR_HEADERS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# A queue only a worker a test starts would consume: its messages stay ready.
IDLE_QUEUE = "ordering"


@pytest.fixture
async def api_http(live_api: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API process the browser uses, with the acme admin key."""
    async with httpx.AsyncClient(base_url=live_api, headers=AUTH_HEADERS, timeout=10) as http:
        yield http


async def submit(http: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    response = await http.post(SUBMIT, json={"name": name, **body})
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    return task


async def new_key(tenant: str, role: str, live_api: str) -> dict[str, Any]:
    """A key made over the API by the operator's key (any tenant, any role)."""
    async with httpx.AsyncClient(base_url=live_api, headers=OPERATOR_HEADERS) as http:
        response = await http.post("/api/v1/keys", json={"tenant": tenant, "role": role})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def sign_in(page: Page, key: str) -> None:
    """Open the dashboard, which asks for a key, and give it one."""
    await page.goto("/dashboard")
    await expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def queue_cell(page: Page, queue: str, field: str) -> Any:
    return page.locator(f'tbody[data-queue="{queue}"] tr[data-band="all"] td[data-field="{field}"]')


async def test_the_overview_shows_what_the_api_says(watched_page: WatchedPage, api_http, worker):
    # Given tasks that succeeded, and one waiting in a queue nothing consumes
    done = [await submit(api_http, "echo", payload={"n": n}) for n in range(2)]
    for task in done:
        await wait_status(api_http, task["id"], "succeeded")
    await submit(api_http, "ordered", payload={"seconds": 0})

    # When the acme admin signs in
    page = watched_page.page
    await sign_in(page, ADMIN_KEY)

    # Then each queue's tasks by status and its ready messages are the API's numbers
    stats = (await api_http.get("/api/v1/queue/")).json()["queues"]
    by_name = {queue["name"]: queue for queue in stats}
    assert by_name[IDLE_QUEUE]["ready"] >= 1
    for name in ("default", IDLE_QUEUE):
        await expect(queue_cell(page, name, "ready")).to_have_text(str(by_name[name]["ready"]))
        for status, count in by_name[name]["tasks"].items():
            await expect(queue_cell(page, name, status)).to_have_text(str(count))
    # and the chart is drawn, from the server's own scripts, with nothing failing
    await expect(page.locator("#throughput-chart canvas")).to_be_visible()
    await expect(page.locator("#throughput-summary")).to_contain_text(re.compile(r"\d+ submitted"))
    watched_page.assert_clean()


async def test_a_tasks_detail_shows_its_payload_and_result(
    watched_page: WatchedPage, api_http, worker
):
    # Given a task that succeeded
    note = marker()
    task = await submit(api_http, "echo", payload={"note": note})
    await wait_status(api_http, task["id"], "succeeded")

    # When it is found in the recent tasks by its handler and opened
    page = watched_page.page
    await sign_in(page, ADMIN_KEY)
    await page.get_by_role("link", name="Tasks", exact=True).click()
    await page.get_by_label("Handler").fill("echo")
    await page.get_by_role("checkbox", name="succeeded").check()
    await page.get_by_role("button", name="Apply filters").click()
    await page.get_by_role("link", name=f"Task {task['id']}").click()

    # Then its payload and its result are shown
    await expect(page.locator('[data-field="status"]')).to_contain_text("succeeded")
    assert json.loads(await page.locator('[data-field="payload"]').inner_text()) == {"note": note}
    assert json.loads(await page.locator('[data-field="result"]').inner_text()) == {"note": note}
    watched_page.assert_clean()


async def test_replaying_a_dead_letter_with_an_edited_payload_makes_it_succeed(
    watched_page: WatchedPage, api_http, worker
):
    # Given a task that died (its handler fails unless the payload says ok)
    note = marker()
    task = await submit(api_http, "fail_unless_ok", payload={"note": note})
    await wait_status(api_http, task["id"], "dead")

    # When it is found among the dead letters by its error, and replayed with ok: true
    page = watched_page.page
    await sign_in(page, ADMIN_KEY)
    await page.get_by_role("link", name="Dead letters").click()
    await page.get_by_label("Error contains").fill(note)
    await page.get_by_role("button", name="Apply filters").click()
    await page.get_by_role("link", name=f"Dead task {task['id']}").click()
    await expect(page.locator('[data-field="traceback"]')).to_contain_text("NotOkError")
    await page.get_by_label("Payload to replay with").fill(json.dumps({"ok": True, "note": note}))
    await page.get_by_role("button", name="Replay with this payload").click()

    # Then the page says so, and shows the task running again until it has succeeded
    await expect(page.get_by_role("status")).to_contain_text("Replayed")
    await expect(page.locator('[data-field="status"]')).to_contain_text("succeeded")
    replayed = (await api_http.get(f"/api/v1/result/{task['id']}")).json()
    assert (replayed["status"], replayed["replays"], replayed["result"]) == (
        "succeeded",
        1,
        {"note": note},
    )
    watched_page.assert_clean()


async def test_cancelling_a_scheduled_task_by_click(watched_page: WatchedPage, api_http):
    # Given a task due in an hour
    task = await submit(api_http, "echo", delay_seconds=3600)

    # When its Cancel button is clicked in the list of scheduled tasks
    page = watched_page.page
    await sign_in(page, ADMIN_KEY)
    await page.goto("/dashboard/tasks?status=scheduled")
    await page.get_by_role("button", name=f"Cancel task {task['id']}").click()

    # Then the task is cancelled, as its page and the API say
    await expect(page.get_by_role("status")).to_contain_text("Cancelled")
    await expect(page.locator('[data-field="status"]')).to_contain_text("cancelled")
    assert (await api_http.get(f"/api/v1/result/{task['id']}")).json()["status"] == "cancelled"
    watched_page.assert_clean()


async def test_another_tenants_key_sees_none_of_acmes_tasks(
    watched_page: WatchedPage, api_http, live_api
):
    # Given a task of acme's, and an admin key of another tenant
    acme_task = await submit(api_http, "echo", delay_seconds=3600)
    other = await new_key(f"globex-{marker()[:6]}", "admin", live_api)

    # When that key signs in
    page = watched_page.page
    await sign_in(page, other["key"])

    # Then it counts no task, lists none, and cannot open acme's
    await expect(page.locator('[data-field="unfinished"]')).to_have_text("0")
    await expect(page.locator('[data-field="created"]')).to_have_text("0")
    await page.get_by_role("link", name="Tasks", exact=True).click()
    await expect(page.get_by_text("No task matches these filters.")).to_be_visible()
    await page.get_by_role("link", name="Dead letters").click()
    await expect(page.get_by_text("No dead task matches these filters.")).to_be_visible()
    watched_page.assert_clean()
    response = await page.goto(f"/dashboard/tasks/{acme_task['id']}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("alert")).to_contain_text("no task with id")


async def test_signing_out_and_a_revoked_key_lead_back_to_the_login_form(
    watched_page: WatchedPage, api_http, live_api
):
    # Given a read key of acme's, signed in
    made = await new_key("acme", "read", live_api)
    page = watched_page.page
    await sign_in(page, made["key"])

    # When it signs out, the dashboard asks for a key again
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await page.goto("/dashboard")
    await expect(page).to_have_url(re.compile(r"/dashboard/login$"))

    # When it signs in again and the key is then revoked
    await sign_in(page, made["key"])
    watched_page.assert_clean()
    revoked = await api_http.delete(f"/api/v1/keys/{made['id']}")
    assert revoked.status_code == 204

    # Then the open overview's next refresh leads to the login form, saying why
    await expect(page).to_have_url(re.compile(r"/dashboard/login\?ended=revoked$"))
    await expect(page.get_by_role("status")).to_contain_text("revoked")
