"""The dashboard's schedules page over HTTP, without a browser: it needs a session, shows
the viewer's own tenant's schedules (when, next run, last run, paused) and no other's."""

import re
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from db.models import Role
from tests.support.api import marker
from tests.support.dashboard import Dashboard, dashboard_client, signed_in
from tests.support.schedules import SCHEDULES, MakeSchedule, schedule_maker
from tests.support.settings import ADMIN_KEY

pytestmark = pytest.mark.integration

PAGE = "/dashboard/schedules"


@pytest.fixture
async def make_schedule(client) -> AsyncIterator[MakeSchedule]:
    async with schedule_maker(client) as make:
        yield make


@pytest.fixture
async def admin(api: FastAPI) -> AsyncIterator[Dashboard]:
    dashboard = await signed_in(api, ADMIN_KEY)
    yield dashboard
    await dashboard.http.aclose()


def row_of(html: str, schedule_id: str) -> str:
    """The table row of the schedule, as HTML."""
    found = re.search(rf'<tr data-schedule="{schedule_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row for schedule {schedule_id}"
    return found[1]


async def test_the_page_lists_the_tenants_schedules_with_their_runs(client, admin, make_schedule):
    # Given a cron schedule that was triggered once, and a paused interval schedule
    nightly = await make_schedule(
        name=f"nightly-{marker()[:8]}", cron="0 3 * * *", timezone="Europe/Berlin"
    )
    assert (await client.post(f"{SCHEDULES}/{nightly['id']}/trigger")).status_code == 202
    paused = await make_schedule(name=f"often-{marker()[:8]}", interval_seconds=90, paused=True)

    # When the page is opened
    page = await admin.http.get(PAGE)

    # Then it shows each: its name, when it runs, its next and last run, whether paused
    assert page.status_code == 200, page.text
    first = row_of(page.text, nightly["id"])
    assert nightly["name"] in first and "<code>0 3 * * *</code> (Europe/Berlin)" in first
    next_run = nightly["next_run_at"][:19].replace("T", " ")
    assert f"{next_run} UTC" in first and "active" in first
    assert first.count(" UTC") == 2  # the trigger was its last run
    second = row_of(page.text, paused["id"])
    assert "every 90 s" in second and "paused" in second and "—" in second
    # and the navigation leads here, marked as the page shown
    assert f'<a href="{PAGE}" aria-current="page">Schedules</a>' in page.text


async def test_the_page_shows_no_other_tenants_schedule_and_needs_a_session(
    api, keyed, make_schedule
):
    # Given a schedule of another tenant
    other = await keyed(f"o-{marker()[:8]}", Role.WRITE)
    theirs = await make_schedule(other.http, paused=True)
    mine = await keyed(f"m-{marker()[:8]}", Role.READ)
    dashboard = await signed_in(api, mine.key)

    # When this tenant's reader opens the page
    page = await dashboard.http.get(PAGE)
    await dashboard.http.aclose()

    # Then it does not show it
    assert page.status_code == 200 and theirs["id"] not in page.text
    assert "No schedule yet" in page.text
    # and without a session the page asks for one
    async with dashboard_client(api) as anonymous:
        response = await anonymous.get(PAGE)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
