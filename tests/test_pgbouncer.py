"""Taskgate behind PgBouncer in transaction pooling mode (DB_PGBOUNCER): an API and a worker
process whose every statement goes through it, and the API's LISTEN on PostgreSQL itself
(DB_DIRECT_HOST, DB_DIRECT_PORT)."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from config.settings import ConfigurationError
from db.session import Database
from tests.chaos.stack import Stack
from tests.support import pgbouncer
from tests.support.api import RESULTS, SUBMIT, submit, wait_all_terminal
from tests.support.settings import AUTH_HEADERS, SETTINGS, settings_with

EXECUTABLE = pgbouncer.binary()

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
needs_pgbouncer = pytest.mark.skipif(
    EXECUTABLE is None,
    reason="pgbouncer is not installed (Debian package pgbouncer; `make test` installs it)",
)

BATCH = f"{SUBMIT}batch"
# How late a long poll's answer may come after its task finished, on this shared machine.
SLACK = 1.5
# A hot-path statement: parameters, so asyncpg prepares it.
STATEMENT = "SELECT count(*) FROM tasks WHERE attempts > $1::int"


@pytest.fixture(scope="module")
async def bouncer(migrated_database: None) -> AsyncIterator[pgbouncer.PgBouncer]:
    """PgBouncer in transaction pooling mode in front of the test database."""
    assert EXECUTABLE is not None
    async with pgbouncer.running_pgbouncer(EXECUTABLE) as running:
        try:
            yield running
        finally:
            print(f"--- pgbouncer\n{running.log()[-3000:]}")


@pytest.fixture(scope="module")
async def pooled_stack(bouncer: pgbouncer.PgBouncer) -> AsyncIterator[Stack]:
    """An API and a worker process reaching the database through PgBouncer only, but for
    the API's LISTEN connection."""
    host, port = SETTINGS.direct_database_address
    stack = Stack(
        workers=1,
        env={
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(bouncer.port),
            "DB_PGBOUNCER": "true",
            "DB_DIRECT_HOST": host,
            "DB_DIRECT_PORT": str(port),
        },
    )
    async for running in stack.running():
        yield running


@pytest.fixture
async def http(pooled_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pooled_stack.url, headers=AUTH_HEADERS) as client:
        yield client


@needs_pgbouncer
async def test_single_and_batch_submits_run_through_pgbouncer(pooled_stack, http):
    # Given an API and a worker whose database is PgBouncer in transaction pooling mode
    # When tasks are submitted one by one, concurrently, and as a batch
    singles = await asyncio.gather(*(submit(http, "echo", {"single": n}) for n in range(8)))
    batch = await http.post(
        BATCH, json={"tasks": [{"name": "echo", "payload": {"batch": n}} for n in range(8)]}
    )
    assert batch.status_code == 202, batch.text

    # Then every one of them runs and succeeds with its result
    submitted = [*singles, *batch.json()["items"]]
    finished = await wait_all_terminal(http, [task["id"] for task in submitted], timeout=30)
    assert {task["id"]: task["status"] for task in finished.values()} == {
        task["id"]: "succeeded" for task in submitted
    }
    assert all(task["result"] == task["payload"] for task in finished.values())
    # And no statement failed on the way
    assert "prepared statement" not in pooled_stack.logs()


@needs_pgbouncer
async def test_long_poll_is_woken_by_the_listen_connection_on_postgresql_itself(pooled_stack, http):
    # Given a task that takes a worker one second
    submitted = await submit(http, "sleep", {"seconds": 1.0})

    # When it is read with a long wait
    started = time.monotonic()
    response = await http.get(f"{RESULTS}{submitted['id']}", params={"wait": 10}, timeout=15)
    answered = datetime.now(UTC)

    # Then the answer is the finished task, sent as it finished (a NOTIFY heard), long before
    # the wait would have ended
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["status"] == "succeeded"
    assert time.monotonic() - started >= 0.9, "answered before the task could have finished"
    late = (answered - datetime.fromisoformat(task["finished_at"])).total_seconds()
    assert late < SLACK, f"answered {late:.1f} s after the task finished: no NOTIFY heard"


async def again_after_its_server_connection_is_taken(database: Database) -> None:
    """Run STATEMENT on a pooled connection; run it again on the same connection while
    another one's transaction holds the server connection PgBouncer lent for the first run
    (it lends the newest idle one), so the second run gets the pool's other one."""
    async with database.connection() as first:
        await first.fetchval(STATEMENT, 0)
        async with database.transaction() as second:
            await second.execute("SELECT 1")
            await first.fetchval(STATEMENT, 0)


def through_the_pair(bouncer: pgbouncer.PgBouncer, *, pgbouncer_setting: bool) -> Database:
    """The test database through PgBouncer, on its alias of two server connections."""
    return Database(
        settings_with(
            db_host="127.0.0.1",
            db_port=bouncer.port,
            db_name=f"{SETTINGS.db_name}{pgbouncer.PAIR_SUFFIX}",
            db_pgbouncer=pgbouncer_setting,
        )
    )


@needs_pgbouncer
async def test_without_the_setting_a_prepared_statement_is_lost_with_its_server_connection(
    bouncer,
):
    # Given Taskgate's database through PgBouncer, without DB_PGBOUNCER
    database = through_the_pair(bouncer, pgbouncer_setting=False)
    try:
        # When a connection's statement runs again on another server connection
        # Then PostgreSQL there knows nothing of the statement asyncpg prepared and cached
        with pytest.raises(asyncpg.InvalidSQLStatementNameError, match="does not exist"):
            await again_after_its_server_connection_is_taken(database)
    finally:
        await database.dispose()


@needs_pgbouncer
async def test_with_the_setting_a_statement_runs_on_any_server_connection(bouncer):
    # Given Taskgate's database through PgBouncer, with DB_PGBOUNCER
    database = through_the_pair(bouncer, pgbouncer_setting=True)
    try:
        # When a connection's statement runs again on another server connection
        # Then it runs (it was sent unnamed, parsed where it runs)
        await again_after_its_server_connection_is_taken(database)
    finally:
        await database.dispose()


def test_the_direct_address_falls_back_to_db_host_and_port():
    pooled = {"db_host": "pgbouncer.internal", "db_port": 6432}

    assert settings_with(**pooled).direct_database_address == ("pgbouncer.internal", 6432)
    assert settings_with(
        **pooled, db_direct_host="postgres.internal", db_direct_port=""
    ).direct_database_address == ("postgres.internal", 6432)
    direct = settings_with(**pooled, db_direct_host="postgres.internal", db_direct_port=5432)
    assert (direct.direct_database_url.host, direct.direct_database_url.port) == (
        "postgres.internal",
        5432,
    )
    assert (direct.database_url.host, direct.database_url.port) == ("pgbouncer.internal", 6432)


def test_behind_pgbouncer_the_direct_address_must_be_given():
    # Given DB_PGBOUNCER, with DB_HOST:DB_PORT the pooler and no direct address
    behind = settings_with(db_host="pgbouncer.internal", db_port=6432, db_pgbouncer=True)

    # When the address of PostgreSQL itself is asked for (the API asks as it is built)
    # Then the answer says which setting is missing, rather than LISTEN through PgBouncer
    with pytest.raises(ConfigurationError, match="DB_DIRECT_HOST"):
        _ = behind.direct_database_address
