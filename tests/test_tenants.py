"""A tenant sees, waits on, cancels, replays and purges only its own tasks: another tenant's
are as unknown as ones that never were (404, or absent from a list)."""

import pytest

from db.models import Role
from tests.support.api import DEAD_LETTERS, RESULTS, SUBMIT, list_all, marker, wait_terminal
from tests.support.dead_letters import make_dead

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_tenants(keyed):
    """Admin keys of two tenants of their own."""
    tag = marker()[:8]
    return await keyed(f"a-{tag}", Role.ADMIN), await keyed(f"b-{tag}", Role.ADMIN)


async def scheduled(http, **extra) -> dict:
    body = {"name": "echo", "payload": {"n": marker()}, "delay_seconds": 3600, **extra}
    response = await http.post(SUBMIT, json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def test_another_tenants_task_is_not_found_by_any_route(two_tenants):
    # Given a task of tenant A
    a, b = two_tenants
    task = await scheduled(a.http)
    assert task["tenant"].startswith("a-")

    # Then tenant B gets 404 wherever it names it
    for method, path in [
        ("GET", f"{RESULTS}{task['id']}"),
        ("GET", f"{RESULTS}{task['id']}?wait=1"),
        ("POST", f"{SUBMIT}{task['id']}/cancel"),
        ("GET", f"{DEAD_LETTERS}{task['id']}"),
        ("POST", f"{DEAD_LETTERS}{task['id']}/replay"),
        ("DELETE", f"{DEAD_LETTERS}{task['id']}"),
    ]:
        response = await b.http.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
    # And A's task is as it was
    mine = (await a.http.get(f"{RESULTS}{task['id']}")).json()
    assert mine["status"] == "scheduled"


async def test_listings_show_each_tenant_its_own_tasks_only(two_tenants):
    # Given a task of each tenant
    a, b = two_tenants
    task_a, task_b = await scheduled(a.http), await scheduled(b.http)

    # Then each tenant's listings hold its own and not the other's
    for http, own, other in ((a.http, task_a, task_b), (b.http, task_b, task_a)):
        for path, params in ((RESULTS, {}), (f"{SUBMIT}1", {}), (RESULTS, {"status": "scheduled"})):
            ids = {item["id"] for item in await list_all(http, path, params)}
            assert own["id"] in ids and other["id"] not in ids, (path, params)
        # Even when asking for the other tenant by name
        asked = {"tenant": other["tenant"]}
        assert await list_all(http, RESULTS, asked) == []


async def test_queue_stats_count_the_tenants_own_tasks(two_tenants):
    a, b = two_tenants
    for _ in range(3):
        await scheduled(a.http)
    counts = {
        http: {
            queue["name"]: queue["tasks"]["scheduled"]
            for queue in (await http.get(SUBMIT)).json()["queues"]
        }
        for http in (a.http, b.http)
    }
    assert counts[a.http]["default"] == 3
    assert counts[b.http]["default"] == 0


async def test_idempotency_keys_are_each_tenants_own(two_tenants):
    # Given tenant A's task made with an idempotency key
    a, b = two_tenants
    key = marker()
    first = await a.http.post(
        SUBMIT, json={"name": "echo", "delay_seconds": 3600}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 202, first.text

    # When tenant B uses the same key for another request
    other = await b.http.post(
        SUBMIT,
        json={"name": "echo", "payload": {"x": 1}, "delay_seconds": 3600},
        headers={"Idempotency-Key": key},
    )

    # Then it is a new task of B's: no conflict, nothing of A's named
    assert other.status_code == 202, other.text
    assert other.json()["id"] != first.json()["id"]
    assert first.json()["id"] not in other.text


async def test_dead_letters_are_each_tenants_own(two_tenants, worker_log):
    # Given a dead task of tenant A
    a, b = two_tenants
    (dead,) = await make_dead(a.http, [marker()])

    # Then B lists none of it, and its bulk replay and purge leave it alone
    assert dead["id"] not in {item["id"] for item in await list_all(b.http, DEAD_LETTERS)}
    replayed = await b.http.post(f"{DEAD_LETTERS}replay", json={"all": True, "limit": 100})
    assert replayed.status_code == 202 and dead["id"] not in str(replayed.json())
    purged = await b.http.delete(DEAD_LETTERS, params={"all": "true"})
    assert purged.status_code == 200, purged.text
    still = await a.http.get(f"{DEAD_LETTERS}{dead['id']}")
    assert (still.status_code, still.json()["replays"]) == (200, 0)


async def test_an_operator_sees_every_tenant_but_not_their_tracebacks(
    two_tenants, keyed, worker_log
):
    # Given a dead task of tenant A, and an operator's key
    a, _ = two_tenants
    (dead,) = await make_dead(a.http, [marker()])
    operator = await keyed("ops", Role.READ, all_tenants=True)

    # Then the operator finds it, without its traceback, which A itself sees
    seen = await operator.http.get(f"{DEAD_LETTERS}{dead['id']}")
    assert seen.status_code == 200, seen.text
    assert (seen.json()["tenant"], seen.json()["traceback"]) == (dead["tenant"], None)
    own = (await a.http.get(f"{DEAD_LETTERS}{dead['id']}")).json()
    assert "Traceback" in own["traceback"]
    listed = {item["id"]: item for item in await list_all(operator.http, DEAD_LETTERS)}
    assert listed[dead["id"]]["traceback"] is None


async def test_a_tenant_waits_on_and_cancels_its_own_task(two_tenants, worker_log):
    a, _ = two_tenants
    task = await scheduled(a.http)
    cancelled = await a.http.post(f"{SUBMIT}{task['id']}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    done = await wait_terminal(a.http, task["id"])
    assert done["status"] == "cancelled"
