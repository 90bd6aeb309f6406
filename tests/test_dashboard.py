"""The dashboard over HTTP, without a browser: its session cookie, its login, its defences
against cross-site requests, its answers to hostile input, and its role rules."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from db.models import Role
from services.keys import create_key
from tests.support.api import get_task, marker
from tests.support.dashboard import (
    CSRF,
    ORIGIN,
    Dashboard,
    dashboard_client,
    later_task,
    signed_in,
)
from tests.support.database import new_session
from tests.support.dead_letters import execute_sql
from tests.support.settings import ADMIN_KEY, settings_with
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(api: FastAPI) -> AsyncIterator[Dashboard]:
    """The dashboard, signed in with the acme admin key."""
    dashboard = await signed_in(api, ADMIN_KEY)
    yield dashboard
    await dashboard.http.aclose()


async def test_login_sets_an_httponly_strict_cookie_scoped_to_the_dashboard(api):
    # Given the login form
    async with dashboard_client(api) as http:
        # When the admin key is entered
        response = await http.post(
            "/dashboard/login", data={"key": ADMIN_KEY}, headers={"Origin": ORIGIN}
        )

        # Then the session is a cookie scripts cannot read, that no other site's request
        # carries, for the dashboard's paths only, with an expiry, and not the key itself
        assert response.status_code == 303 and response.headers["location"] == "/dashboard"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("taskgate_session=")
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/dashboard"} <= flags
        assert any(flag.startswith("max-age=") for flag in flags)
        assert "secure" not in flags  # plain http here
        assert ADMIN_KEY.split("_", 2)[2] not in cookie
        # and it opens the dashboard
        page = await http.get("/dashboard")
        assert page.status_code == 200 and "tenant <strong>acme</strong>" in page.text


async def test_the_cookie_is_secure_when_the_dashboard_is_reached_over_https(api):
    async with dashboard_client(api, base_url="https://taskgate.test") as http:
        response = await http.post(
            "/dashboard/login", data={"key": ADMIN_KEY}, headers={"Origin": "https://taskgate.test"}
        )
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower().split("; ")


async def test_a_wrong_key_shows_the_form_again_saying_so(api):
    async with dashboard_client(api) as http:
        for key in ("tg_000000000000_not-a-key", "nonsense", "x" * 500):
            response = await http.post(
                "/dashboard/login", data={"key": key}, headers={"Origin": ORIGIN}
            )
            assert response.status_code == 401
            assert "set-cookie" not in response.headers
            assert 'name="key"' in response.text
            assert "not accepted" in response.text or "Enter an API key" in response.text
        # and without a session the dashboard asks for one
        page = await http.get("/dashboard")
        assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"


async def test_a_login_from_another_site_is_refused(api):
    async with dashboard_client(api) as http:
        response = await http.post(
            "/dashboard/login", data={"key": ADMIN_KEY}, headers={"Origin": "https://evil.test"}
        )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(api, admin, client):
    # Given a scheduled task
    task_id = await later_task(client)
    path = f"/dashboard/tasks/{task_id}/cancel"

    # When a cancel is posted without the session's token, or with another one
    missing = await admin.http.post(path, data={}, headers={"Origin": ORIGIN})
    wrong = await admin.http.post(path, data={"csrf_token": "forged"}, headers={"Origin": ORIGIN})
    other = await signed_in(api, ADMIN_KEY)
    foreign = await admin.post(path, {"csrf_token": other.csrf})
    await other.http.aclose()

    # Then each is a 403 saying why, and the task is still scheduled
    for response in (missing, wrong, foreign):
        assert response.status_code == 403, response.text
        assert "security token" in response.text
    assert (await get_task(client, task_id))["status"] == "scheduled"


async def test_an_action_from_another_origin_is_refused_and_changes_nothing(admin, client):
    task_id = await later_task(client)
    path = f"/dashboard/tasks/{task_id}/cancel"

    evil = await admin.post(path, Origin="https://evil.test")
    null = await admin.post(path, Origin="null")
    neither = await admin.http.post(path, data={"csrf_token": admin.csrf})

    for response in (evil, null, neither):
        assert response.status_code == 403, response.text
        assert "did not come from a page of this dashboard" in response.text
    assert (await get_task(client, task_id))["status"] == "scheduled"


async def test_an_action_with_the_token_from_the_dashboard_cancels(admin, client):
    # The control for the two tests above: the same request, as the page sends it
    task_id = await later_task(client)

    response = await admin.post(f"/dashboard/tasks/{task_id}/cancel")

    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/tasks/{task_id}?notice=cancelled"
    assert (await get_task(client, task_id))["status"] == "cancelled"
    page = await admin.http.get(response.headers["location"])
    assert "Cancelled: the task will not run." in page.text


HOSTILE_PAGES = [
    "/dashboard/tasks?status=bogus",
    "/dashboard/tasks?status=" + "&status=".join(["queued"] * 21),
    "/dashboard/tasks?created_after=yesterday",
    "/dashboard/tasks?created_after=2026-01-01T00:00:00",
    "/dashboard/tasks?created_after=0001-01-01T00:00:00%2B14:00",
    "/dashboard/tasks?cursor=not-a-cursor",
    "/dashboard/tasks?cursor=" + "A" * 500,
    "/dashboard/tasks?limit=0",
    "/dashboard/tasks?limit=1000000",
    "/dashboard/tasks?limit=many",
    "/dashboard/tasks?name=%00",
    "/dashboard/tasks?name=" + "n" * 201,
    "/dashboard/tasks?tenant=..%2F..",
    "/dashboard/tasks/not-a-uuid",
    # No task has this id (a fixed one: every test process must collect the same tests).
    "/dashboard/tasks/0192f5a0-0000-7000-8000-000000000000",
    "/dashboard/dead-letters?died_before=2026-13-45T99:00:00Z",
    "/dashboard/dead-letters?error=%00",
    "/dashboard/dead-letters?error=" + "e" * 1001,
    "/dashboard/throughput.json?after=-1",
    "/dashboard/throughput.json?after=nan",
    "/dashboard/throughput.json?after=1e300",
    "/dashboard/no-such-page",
]


@pytest.mark.parametrize("path", HOSTILE_PAGES)
async def test_hostile_input_in_a_page_is_a_4xx_saying_what_is_wrong(admin, path):
    response = await admin.http.get(path)

    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert "content-security-policy" in response.headers
    if not path.startswith("/dashboard/throughput.json"):
        assert 'role="alert"' in response.text


async def test_hostile_input_in_a_form_is_a_4xx_and_changes_nothing(admin, client):
    # Given a dead task
    task_id = await later_task(client)
    await execute_sql(
        "UPDATE tasks SET status = 'dead', finished_at = now(), error = 'boom' WHERE id = :id",
        id=uuid.UUID(task_id),
    )
    replay = f"/dashboard/dead-letters/{task_id}/replay"

    # When it is replayed with payloads that are no JSON object, or break the limits
    answers = [
        await admin.post(replay, {"with": "edited", "payload": text})
        for text in ("{not json", "[1, 2]", "", '{"a": "\\u0000"}', "[" * 100_000, "NaN")
    ]
    # and bulk actions are sent filters the API refuses
    answers.append(await admin.post("/dashboard/dead-letters/replay", {"limit": "100"}))
    answers.append(
        await admin.post("/dashboard/dead-letters/replay", {"name": "x", "limit": "10001"})
    )
    answers.append(
        await admin.post("/dashboard/dead-letters/purge", {"died_after": "soon", "confirm": "yes"})
    )
    answers.append(await admin.post("/dashboard/dead-letters/purge", {"name": "echo"}))

    # Then each is a 422 naming the problem, and the task is still dead
    for response in answers:
        assert response.status_code == 422, response.text[:500]
        assert 'role="alert"' in response.text
    assert "payload: the payload is not valid JSON" in answers[0].text
    assert "all=true" in answers[6].text
    assert "confirm" in answers[9].text
    assert (await get_task(client, task_id))["status"] == "dead"


async def test_a_read_key_sees_but_cannot_cancel(api, client, keyed):
    # Given a scheduled task of acme's, and a read key of acme's
    task_id = await later_task(client)
    reader = await keyed("acme", Role.READ)
    dashboard = await signed_in(api, reader.key)

    # When it opens the task and posts a cancel with its own valid token
    page = await dashboard.http.get(f"/dashboard/tasks/{task_id}")
    response = await dashboard.post(f"/dashboard/tasks/{task_id}/cancel")
    await dashboard.http.aclose()

    # Then it sees the task but no cancel button, and the cancel is a 403
    assert page.status_code == 200 and task_id in page.text
    assert "Cancel this task" not in page.text
    assert response.status_code == 403
    assert "needs a key with the write role" in response.text
    assert (await get_task(client, task_id))["status"] == "scheduled"


async def test_a_write_key_cannot_purge(api, client, keyed):
    task_id = await later_task(client)
    await execute_sql(
        "UPDATE tasks SET status = 'dead', finished_at = now() WHERE id = :id",
        id=uuid.UUID(task_id),
    )
    writer = await keyed("acme", Role.WRITE)
    dashboard = await signed_in(api, writer.key)

    single = await dashboard.post(f"/dashboard/dead-letters/{task_id}/purge")
    bulk = await dashboard.post("/dashboard/dead-letters/purge", {"all": "true", "confirm": "yes"})
    await dashboard.http.aclose()

    assert single.status_code == 403 and bulk.status_code == 403
    assert (await get_task(client, task_id))["status"] == "dead"


async def test_a_revoked_key_ends_its_sessions_at_once(api, client, keyed):
    # Given a session of a key
    key = await keyed("acme", Role.READ)
    dashboard = await signed_in(api, key.key)

    # When the key is revoked
    revoked = await client.delete(f"/api/v1/keys/{key.key_id}")
    assert revoked.status_code == 204

    # Then its next request goes to the login page, saying why, and the cookie is dropped
    async def sent_to_login() -> httpx.Response | None:
        response = await dashboard.http.get("/dashboard")
        return response if response.status_code == 303 else None

    response = await wait_for(sent_to_login, timeout=3, what="the session to end")
    assert response.headers["location"] == "/dashboard/login?ended=revoked"
    assert "max-age=0" in response.headers["set-cookie"].lower()
    live = await dashboard.http.get("/dashboard/live", headers={"HX-Request": "true"})
    assert live.status_code == 401 and live.headers["hx-redirect"].startswith("/dashboard/login")
    await dashboard.http.aclose()


async def test_a_forged_session_cookie_is_no_session(api):
    # Given a session's token, and the same token with its body or its signature changed
    dashboard = await signed_in(api, ADMIN_KEY)
    token = dashboard.http.cookies["taskgate_session"]
    await dashboard.http.aclose()
    body, mac = token.split(".")
    forgeries = (f"{body}.{_flip(mac)}", f"{_flip(body)}.{mac}", "x", "a.b.c", token * 3)

    async with dashboard_client(api) as http:
        # The genuine token opens the dashboard
        genuine = await http.get("/dashboard", headers={"Cookie": f"taskgate_session={token}"})
        assert genuine.status_code == 200
        # When a changed one is presented, it is sent to sign in
        for forged in forgeries:
            response = await http.get(
                "/dashboard", headers={"Cookie": f"taskgate_session={forged}"}
            )
            assert response.status_code == 303, forged
            assert response.headers["location"] == "/dashboard/login?ended=expired"


def _flip(text: str) -> str:
    """`text` with its first character changed (the last may only hold padding bits)."""
    return ("B" if text[0] == "A" else "A") + text[1:]


async def test_the_dashboard_is_not_in_the_openapi_document(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/dashboard")]


@pytest.fixture
async def open_api(api: FastAPI) -> AsyncIterator[FastAPI]:
    """The API with authentication off (local use), on the same database."""
    app = create_app(settings_with(auth_enabled=False))
    async with app.router.lifespan_context(app):
        yield app


async def test_with_auth_off_there_is_no_login_but_actions_still_need_the_token(open_api, client):
    task_id = await later_task(client)
    async with dashboard_client(open_api) as http:
        # The dashboard opens at once, as the API's principal with auth off (every tenant)
        login = await http.get("/dashboard/login")
        assert login.status_code == 303 and login.headers["location"] == "/dashboard"
        page = await http.get(f"/dashboard/tasks/{task_id}")
        assert page.status_code == 200 and "Authentication is off" in page.text
        assert "Sign out" not in page.text
        # An action without the page's token is still refused; with it, it is done
        path = f"/dashboard/tasks/{task_id}/cancel"
        refused = await http.post(path, data={}, headers={"Origin": ORIGIN})
        assert refused.status_code == 403
        assert (await get_task(client, task_id))["status"] == "scheduled"
        token = CSRF.search(page.text)[1]
        done = await http.post(path, data={"csrf_token": token}, headers={"Origin": ORIGIN})
        assert done.status_code == 303
    assert (await get_task(client, task_id))["status"] == "cancelled"


async def test_a_login_over_the_rate_limit_is_429_with_the_form(api):
    # Given a key of a tenant of its own, through an API allowing it one request at a time
    limited = create_app(settings_with(rate_limit_per_second=0.01, rate_limit_burst=1))
    reader = await _made_key(f"rate-{marker()[:8]}")
    async with limited.router.lifespan_context(limited), dashboard_client(limited) as http:
        # When it signs in twice in a row
        first = await http.post(
            "/dashboard/login", data={"key": reader}, headers={"Origin": ORIGIN}
        )
        second = await http.post(
            "/dashboard/login", data={"key": reader}, headers={"Origin": ORIGIN}
        )

    # Then the second is refused with the form, saying when to retry
    assert first.status_code == 303
    assert second.status_code == 429 and "Retry-After" in second.headers
    assert "too many requests" in second.text.lower() and 'name="key"' in second.text


async def _made_key(tenant: str) -> str:
    async with new_session() as session:
        made = await create_key(session=session, tenant=tenant, role=Role.READ)
    return made.key
