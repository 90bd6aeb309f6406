"""API keys and roles: no key, a wrong one, a revoked one, and what each role may do."""

import uuid

import httpx
import pytest

from db.models import Role
from tests.support.api import DEAD_LETTERS, RESULTS, SUBMIT, in_process_client, marker
from tests.support.settings import ADMIN_KEY

pytestmark = pytest.mark.integration

TASK = {"name": "echo", "payload": {"n": 1}, "delay_seconds": 3600}


@pytest.fixture
async def anonymous(api) -> httpx.AsyncClient:
    async with in_process_client(api) as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", SUBMIT),
        ("POST", f"{SUBMIT}batch"),
        ("GET", SUBMIT),
        ("GET", f"{SUBMIT}1"),
        ("GET", RESULTS),
        # A fixed id: every test process must collect the same tests.
        ("GET", f"{RESULTS}0192f5a0-0000-7000-8000-000000000001"),
        ("GET", DEAD_LETTERS),
        ("DELETE", f"{DEAD_LETTERS}?all=true"),
        ("GET", "/api/v1/handlers"),
        ("GET", "/api/v1/keys"),
    ],
)
async def test_every_endpoint_needs_a_key(anonymous, method, path):
    # When a request comes without a key
    response = await anonymous.request(method, path, json={} if method == "POST" else None)

    # Then it is refused with 401, saying how to send one
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json", "/asyncapi.json"])
async def test_probes_and_documentation_need_no_key(anonymous, path):
    response = await anonymous.get(path)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        f"tg_{'0' * 12}_wrong-secret",
        ADMIN_KEY[:-1] + "x",  # a known prefix with a wrong secret
        "tg_short_secret",
    ],
)
async def test_an_unknown_or_malformed_key_is_refused(anonymous, key):
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = await anonymous.get(RESULTS, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert "not valid" in response.json()["detail"]


async def test_the_key_works_in_either_header(anonymous):
    for headers in ({"Authorization": f"Bearer {ADMIN_KEY}"}, {"X-API-Key": ADMIN_KEY}):
        assert (await anonymous.get(RESULTS, headers=headers)).status_code == 200


async def test_a_read_key_reads_but_cannot_submit_cancel_or_replay(keyed):
    # Given a read key
    reader = await keyed("acme", Role.READ)

    # Then it lists, but submitting is forbidden, naming the role it takes
    assert (await reader.http.get(RESULTS)).status_code == 200
    refused = await reader.http.post(SUBMIT, json=TASK)
    assert refused.status_code == 403, refused.text
    assert "write" in refused.json()["detail"] and "read" in refused.json()["detail"]
    for path in (f"{SUBMIT}{uuid.uuid4()}/cancel", f"{DEAD_LETTERS}{uuid.uuid4()}/replay"):
        assert (await reader.http.post(path)).status_code == 403, path


async def test_a_write_key_cannot_purge_bulk_replay_see_queue_stats_or_keys(keyed):
    writer = await keyed("acme", Role.WRITE)
    assert (await writer.http.post(SUBMIT, json=TASK)).status_code == 202
    for method, path, body in [
        ("DELETE", f"{DEAD_LETTERS}?all=true", None),
        ("DELETE", f"{DEAD_LETTERS}{uuid.uuid4()}", None),
        ("POST", f"{DEAD_LETTERS}replay", {"all": True, "limit": 1}),
        ("GET", SUBMIT, None),
        ("GET", "/api/v1/keys", None),
        ("POST", "/api/v1/keys", {"role": "read"}),
    ]:
        response = await writer.http.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)


async def test_an_admin_makes_lists_and_revokes_keys_over_http(keyed):
    # Given an admin key of tenant beta
    admin = await keyed("beta", Role.ADMIN)

    # When it makes a read key
    made = await admin.http.post("/api/v1/keys", json={"role": "read", "name": "ci"})

    # Then the answer holds the secret once, and the key works, for beta only
    assert made.status_code == 201, made.text
    key = made.json()
    assert (key["tenant"], key["role"], key["all_tenants"]) == ("beta", "read", False)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert (await admin.http.get(RESULTS, headers=headers)).status_code == 200
    listed = (await admin.http.get("/api/v1/keys")).json()
    assert {item["id"] for item in listed} >= {key["id"]}
    assert all("key" not in item and "secret_hash" not in item for item in listed)
    assert {item["tenant"] for item in listed} == {"beta"}

    # And once revoked, it is refused at once
    assert (await admin.http.delete(f"/api/v1/keys/{key['id']}")).status_code == 204
    assert (await admin.http.get(RESULTS, headers=headers)).status_code == 401


async def test_a_tenant_admin_cannot_make_keys_for_another_tenant_or_operators(keyed):
    admin = await keyed("beta", Role.ADMIN)
    for body in ({"tenant": "acme", "role": "read"}, {"role": "read", "all_tenants": True}):
        response = await admin.http.post("/api/v1/keys", json=body)
        assert response.status_code == 403, (body, response.text)


async def test_a_tenant_admin_cannot_revoke_another_tenants_key(keyed):
    # Given two tenants' admins
    acme, beta = await keyed(f"acme-{marker()[:8]}", Role.ADMIN), await keyed("beta", Role.ADMIN)

    # When beta tries to revoke acme's key, it is as if there were no such key
    response = await beta.http.delete(f"/api/v1/keys/{acme.key_id}")
    assert response.status_code == 404, response.text
    assert (await acme.http.get(RESULTS)).status_code == 200


async def test_a_key_for_a_badly_named_tenant_is_refused_with_the_rule(keyed):
    operator = await keyed("ops", Role.ADMIN, all_tenants=True)
    response = await operator.http.post("/api/v1/keys", json={"tenant": "Not Valid!"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "tenant"]
