"""`taskgate keys`, the console script: make, list and revoke keys; a revocation takes
effect at once in every API process."""

import asyncio
import json
import subprocess
import uuid

import httpx
import pytest

from tests.chaos.stack import api_answers, free_port
from tests.support import processes
from tests.support.api import RESULTS, marker
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

TASKGATE = str(processes.BIN / "taskgate")


async def taskgate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the console script as a user would, with the tests' settings."""
    return await asyncio.to_thread(
        subprocess.run,
        [TASKGATE, *args],
        capture_output=True,
        text=True,
        env=processes.environment(env),
        timeout=60,
    )


async def made_key(tenant: str, *options: str) -> tuple[str, str]:
    """(key id, secret) of a key made with `taskgate keys create`."""
    made = await taskgate("keys", "create", "--tenant", tenant, *options)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    key_id = lines[0].split()[2]
    return key_id, lines[-1]


async def test_keys_create_prints_the_secret_alone_on_the_last_line(client, migrated_database):
    # When a key is made from the command line
    tenant = f"cli-{marker()[:8]}"
    made = await taskgate("keys", "create", "--tenant", tenant, "--role", "write")

    # Then the last line is the key alone, and it works against the API for that tenant
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("tg_") and " " not in key
    response = await client.post(
        "/api/v1/queue/",
        json={"name": "echo", "delay_seconds": 3600},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["tenant"] == tenant


async def test_keys_list_shows_keys_without_their_secrets(migrated_database):
    tenant = f"cli-{marker()[:8]}"
    key_id, key = await made_key(tenant, "--role", "read")
    listed = await taskgate("keys", "list", "--tenant", tenant, "--json")
    assert listed.returncode == 0, listed.stderr
    (shown,) = json.loads(listed.stdout)
    assert (shown["id"], shown["tenant"], shown["role"]) == (key_id, tenant, "read")
    assert shown["prefix"] == key.split("_", 2)[1]
    assert key.split("_", 2)[2] not in listed.stdout
    # And for people, a table as wide as the terminal
    table = await taskgate("keys", "list", "--tenant", tenant, COLUMNS="200")
    assert table.returncode == 0 and key_id in table.stdout and tenant in table.stdout


async def test_revoking_an_unknown_key_says_so_in_one_line(migrated_database):
    revoked = await taskgate("keys", "revoke", str(uuid.uuid4()))
    assert revoked.returncode == 1
    assert revoked.stderr.strip().count("\n") == 0
    assert "no API key with id" in revoked.stderr


async def test_a_revoked_key_is_refused_at_once_by_every_api_process(migrated_database):
    # Given two API processes, each having served a key (and so holding it in memory)
    key_id, key = await made_key(f"cli-{marker()[:8]}", "--role", "read")
    ports = [free_port(), free_port()]
    apis = [processes.api(port=port).start() for port in ports]
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        for port in ports
    ]
    try:
        for http in clients:
            await wait_for(lambda http=http: api_answers(http), timeout=30, what="an API")
            assert (await http.get(RESULTS)).status_code == 200

        # When the key is revoked from the command line
        revoked = await taskgate("keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr

        # Then both refuse it within moments (no restart, no expiry to wait out)
        for http in clients:
            await wait_for(lambda http=http: _refused(http), timeout=3, what="the key refused")
    finally:
        for http in clients:
            await http.aclose()
        for api in apis:
            api.stop()


async def _refused(http: httpx.AsyncClient) -> bool:
    return (await http.get(RESULTS)).status_code == 401


async def test_a_key_held_in_memory_is_forgotten_when_revoked(client, api_runtime):
    # Given a key this API process has served while listening, and so holds in memory
    key_id, key = await made_key(f"cli-{marker()[:8]}", "--role", "read")
    headers = {"Authorization": f"Bearer {key}"}
    await wait_for(lambda: _true(api_runtime.waiter.listening), timeout=10, what="the listener")
    assert (await client.get(RESULTS, headers=headers)).status_code == 200
    prefix = key.split("_", 2)[1]
    assert api_runtime.authenticator.cache.get(prefix) is not None

    # When it is revoked from another process
    revoked = await taskgate("keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr

    # Then this process forgets it and refuses it
    await wait_for(
        lambda: _true(api_runtime.authenticator.cache.get(prefix) is None),
        timeout=3,
        what="the revocation to be heard",
    )
    assert (await client.get(RESULTS, headers=headers)).status_code == 401


async def _true(value: bool) -> bool:
    return value
