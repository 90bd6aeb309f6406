"""Pausing and resuming a queue from the dashboard's overview: an admin's button, the API's
rule; a write key sees the state but no button."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from db.models import Role
from tests.support.dashboard import Dashboard, signed_in
from tests.support.database import new_session
from tests.support.settings import ADMIN_KEY

CONTROLS = "/api/v1/queues/ordering"


@pytest.fixture
async def admin(api: FastAPI) -> AsyncIterator[Dashboard]:
    dashboard = await signed_in(api, ADMIN_KEY)
    yield dashboard
    await dashboard.http.aclose()
    async with new_session() as session:
        await session.execute(text("DELETE FROM queue_settings WHERE name = 'ordering'"))
        await session.commit()


async def test_the_pause_button_pauses_and_the_resume_button_resumes(admin, client):
    # Given the overview shows a pause button for the queue
    page = await admin.http.get("/dashboard")
    assert 'action="/dashboard/queues/ordering/pause"' in page.text

    # When it is pressed
    response = await admin.post("/dashboard/queues/ordering/pause")

    # Then the API says the queue is paused, and the overview says so with a resume button
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard#queue-ordering"
    assert (await client.get(CONTROLS)).json()["paused"] is True
    page = await admin.http.get("/dashboard")
    assert 'action="/dashboard/queues/ordering/resume"' in page.text
    assert 'data-field="paused"' in page.text

    # And resume undoes it
    response = await admin.post("/dashboard/queues/ordering/resume")
    assert response.status_code == 303
    assert (await client.get(CONTROLS)).json()["paused"] is False


async def test_a_write_key_sees_no_button_and_cannot_pause(api, client, keyed, admin):
    writer = await keyed("acme", Role.WRITE)
    dashboard = await signed_in(api, writer.key)
    page = await dashboard.http.get("/dashboard")
    response = await dashboard.post("/dashboard/queues/ordering/pause")
    await dashboard.http.aclose()

    assert page.status_code == 200 and "/dashboard/queues/ordering/pause" not in page.text
    assert response.status_code == 403
    assert "needs a key with the admin role" in response.text
    assert (await client.get(CONTROLS)).json()["paused"] is False


async def test_pausing_an_unknown_queue_is_a_404_page(admin):
    response = await admin.post("/dashboard/queues/nosuchqueue/pause")
    assert response.status_code == 404
    assert "no queue named" in response.text
