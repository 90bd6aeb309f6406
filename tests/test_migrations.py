"""The migrations: reversible, and the very schema the models describe; and the count of
each tenant's unfinished tasks the database keeps itself."""

import subprocess
import sys
import uuid

import pytest

from db.create_database import connect, drop_database, recreate_database
from tests.support import processes
from tests.support.settings import SETTINGS, TEST_DB

pytestmark = pytest.mark.integration

SCRATCH = f"{TEST_DB}_migrations"


def alembic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=processes.ROOT,
        env=processes.environment({"DB_NAME": SCRATCH}),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_migrations_go_down_and_up_again_and_match_the_models():
    await recreate_database(SETTINGS, SCRATCH)
    try:
        for step in (("upgrade", "head"), ("check",), ("downgrade", "base"), ("upgrade", "head")):
            run = alembic(*step)
            assert run.returncode == 0, (step, run.stdout[-2000:], run.stderr[-3000:])
        assert "No new upgrade operations detected" in alembic("check").stdout
    finally:
        await drop_database(SETTINGS, SCRATCH)


async def test_the_database_counts_each_tenants_unfinished_tasks(migrated_database):
    # Given a tenant of its own
    tenant = f"count-{uuid.uuid4().hex[:8]}"
    connection = await connect(SETTINGS, SETTINGS.db_name)

    async def unfinished() -> int:
        found = await connection.fetchval(
            "SELECT unfinished FROM tenant_load WHERE tenant = $1", tenant
        )
        return int(found or 0)

    try:
        # When tasks arrive, run, finish, come back and go
        ids = [uuid.uuid4() for _ in range(4)]
        await connection.execute(
            "INSERT INTO tasks (id, tenant, name, status) "
            "SELECT id, $2, 'echo', 'queued' FROM unnest($1::uuid[]) AS id",
            ids,
            tenant,
        )
        assert await unfinished() == 4
        await connection.execute("UPDATE tasks SET status = 'running' WHERE id = $1", ids[0])
        assert await unfinished() == 4  # still unfinished
        await connection.execute(
            "UPDATE tasks SET status = 'succeeded' WHERE id = ANY($1::uuid[])", ids[:2]
        )
        assert await unfinished() == 2
        await connection.execute("UPDATE tasks SET status = 'dead' WHERE id = $1", ids[2])
        await connection.execute("UPDATE tasks SET status = 'queued' WHERE id = $1", ids[2])
        assert await unfinished() == 2  # died, then replayed
        await connection.execute("DELETE FROM tasks WHERE id = ANY($1::uuid[])", ids)
        # Then the count follows every change
        assert await unfinished() == 0
    finally:
        await connection.execute("DELETE FROM tenant_load WHERE tenant = $1", tenant)
        await connection.close()
