"""A named queue's controls over HTTP: read, changed, refused with a reason, per tenant."""

import pytest
from sqlalchemy import text

from db.models import Role
from tests.support.database import new_session

CONTROLS = "/api/v1/queues"


@pytest.fixture
async def reset_controls():
    """No controls left on the `ordering` queue by the test."""
    yield
    async with new_session() as session:
        await session.execute(text("DELETE FROM queue_settings WHERE name = 'ordering'"))
        await session.commit()


async def test_a_queue_without_controls_reads_as_all_off(client):
    # When a known queue that no one ever controlled is read
    response = await client.get(f"{CONTROLS}/default")

    # Then nothing holds it back, and its tasks are counted
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "default" and body["tenant"] == "acme"
    assert body["paused"] is False
    assert body["concurrency_limit"] is None and body["key_concurrency_limit"] is None
    assert body["rate_limit_per_second"] is None and body["updated_at"] is None
    assert body["held"] == {}


async def test_controls_change_one_at_a_time_and_null_turns_a_limit_off(client, reset_controls):
    # Given a queue paused with a concurrency limit
    response = await client.patch(
        f"{CONTROLS}/ordering", json={"paused": True, "concurrency_limit": 3}
    )
    assert response.status_code == 200, response.text
    assert response.json()["paused"] is True and response.json()["concurrency_limit"] == 3

    # When only the limit is turned off, and a rate set
    response = await client.patch(
        f"{CONTROLS}/ordering", json={"concurrency_limit": None, "rate_limit_per_second": 2.5}
    )

    # Then the pause stays, the limit is gone, the rate is set; a later read says the same
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["paused"] is True and changed["concurrency_limit"] is None
    assert changed["rate_limit_per_second"] == 2.5 and changed["updated_at"] is not None
    assert (await client.get(f"{CONTROLS}/ordering")).json() == changed


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"concurrency_limit": 0}, "concurrency_limit", "greater than or equal to 1"),
        ({"key_concurrency_limit": "2"}, "key_concurrency_limit", "integer"),
        ({"rate_limit_per_second": -1}, "rate_limit_per_second", "greater than 0"),
        ({"paused": "yes"}, "paused", "boolean"),
        ({"paused": None}, "paused", "valid boolean"),
        ({"pause": True}, "pause", "Extra inputs are not permitted"),
        ({}, None, "nothing to change"),
    ],
)
async def test_a_bad_change_is_a_422_naming_the_field(client, body, field, expected):
    # When a change is malformed
    response = await client.patch(f"{CONTROLS}/ordering", json=body)

    # Then the answer names the field and what was expected, and nothing changed
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(expected in item["msg"] for item in detail), detail
    if field is not None:
        assert any(item["loc"][-1] == field for item in detail), detail
    assert (await client.get(f"{CONTROLS}/ordering")).json()["updated_at"] is None


async def test_an_unknown_queue_is_a_404_listing_the_known_ones(client):
    response = await client.get(f"{CONTROLS}/nosuchqueue")
    assert response.status_code == 404
    assert "no queue named 'nosuchqueue'" in response.json()["detail"]
    assert "default" in response.json()["detail"]


async def test_changing_controls_needs_the_admin_role(keyed, reset_controls):
    # Given keys of the write and read roles
    writer = await keyed("acme", Role.WRITE)
    reader = await keyed("acme", Role.READ)

    # Then both may read the controls, neither may change them
    assert (await reader.http.get(f"{CONTROLS}/ordering")).status_code == 200
    for holder in (writer, reader):
        response = await holder.http.patch(f"{CONTROLS}/ordering", json={"paused": True})
        assert response.status_code == 403, response.text
        assert "admin role" in response.json()["detail"]


async def test_each_tenant_has_its_own_controls(client, keyed, reset_controls):
    # Given acme's queue paused
    assert (await client.patch(f"{CONTROLS}/ordering", json={"paused": True})).status_code == 200

    # Then another tenant's same queue is not, and its key cannot reach acme's
    other = await keyed("globex", Role.ADMIN)
    theirs = await other.http.get(f"{CONTROLS}/ordering")
    assert theirs.json()["tenant"] == "globex" and theirs.json()["paused"] is False
    response = await other.http.patch(f"{CONTROLS}/ordering?tenant=acme", json={"paused": False})
    assert response.status_code == 403
    assert (await client.get(f"{CONTROLS}/ordering")).json()["paused"] is True


async def test_an_operator_acts_for_the_tenant_it_names(operator_client, client, reset_controls):
    # When an operator pauses acme's queue
    response = await operator_client.patch(
        f"{CONTROLS}/ordering?tenant=acme", json={"paused": True}
    )

    # Then acme's key sees it paused
    assert response.status_code == 200, response.text
    assert response.json()["tenant"] == "acme"
    assert (await client.get(f"{CONTROLS}/ordering")).json()["paused"] is True
