"""The API against its own OpenAPI document, generated requests by the hundred
(schemathesis, every check): no 5xx, every answer documented, every request the schema
calls valid accepted, every one it calls invalid refused, 405 with `Allow`.

A real API process, with auth on, on queues of its own (nothing consumes what it accepts)
and a key of a tenant of its own ("contract"), so no other test sees its tasks.
"""

import asyncio
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from db.create_database import connect
from services.keys import secret_hash
from tests.chaos.stack import Stack
from tests.support import processes
from tests.support.settings import SETTINGS

pytestmark = pytest.mark.integration

KEY_PREFIX = "00000000c0de"
KEY = f"tg_{KEY_PREFIX}_contract-test-key"
# Requests per operation; every operation is tried, so the whole run stays short.
EXAMPLES = 40


async def _add_key() -> None:
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        await connection.execute(
            "INSERT INTO api_keys (id, prefix, secret_hash, tenant, role, name) "
            "VALUES (gen_random_uuid(), $1, $2, 'contract', 'admin', 'contract') "
            "ON CONFLICT (prefix) DO UPDATE SET revoked_at = NULL",
            KEY_PREFIX,
            secret_hash(KEY.split("_", 2)[2]),
        )
    finally:
        await connection.close()


async def _delete_schedules() -> None:
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        await connection.execute("DELETE FROM schedules WHERE tenant = 'contract'")
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def contract_api(migrated_database: None) -> Iterator[str]:
    """The API under uvicorn on queues of its own; its URL."""
    stack = Stack(workers=0, env={"RATE_LIMIT_PER_SECOND": "0"})
    asyncio.run(_add_key())
    stack.api = processes.api(port=stack.port, env=stack.process_env()).start()
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{stack.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert stack.api.alive(), stack.api.log()[-3000:]
            asyncio.run(asyncio.sleep(0.2))
        yield stack.url
    finally:
        stack.stop()
        asyncio.run(stack.delete_queues())
        # The schedules the run made would go on making tasks in later tests' processes.
        asyncio.run(_delete_schedules())


def test_the_api_keeps_its_contract(contract_api: str) -> None:
    # When the API is sent what its document describes, and what it rules out
    run = subprocess.run(
        [
            str(processes.BIN / "st"),
            *("--config-file", str(processes.ROOT / "tests" / "support" / "schemathesis.toml")),
            "run",
            f"{contract_api}/openapi.json",
            *("--header", f"Authorization: Bearer {KEY}"),
            *("--checks", "all"),
            *("--max-examples", str(EXAMPLES)),
            "--generation-deterministic",
            # Revoking keys is tried by tests of its own: here it would revoke the run's key.
            *("--exclude-path-regex", "^/api/v1/keys/"),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=processes.environment({}),
        cwd=processes.ROOT,
    )

    # Then every check held for every generated request
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
