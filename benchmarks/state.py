"""A fresh state for each run: new databases (migrated), empty tables, no queues."""

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

from benchmarks import broker
from benchmarks.systems import BENCH_KEY, BENCH_KEY_PREFIX, BENCH_TENANT, ROOT, System
from config.settings import get_settings
from db import create_database
from db.create_database import connect
from services.keys import secret_hash


async def recreate_database(system: System) -> None:
    """Drop and create the system's database, then make its schema: Taskgate's through
    `alembic upgrade head`, as users do; the baseline's from its CREATE TABLE."""
    await create_database.recreate_database(get_settings(), system.database)
    if system.schema is None:
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, "DB_NAME": system.database},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        await _add_bench_key(system)
        return
    connection = await connect(get_settings(), system.database)
    try:
        await connection.execute(system.schema)
    finally:
        await connection.close()


async def _add_bench_key(system: System) -> None:
    """The write key the load generator sends (its secret is in benchmarks/systems.py)."""
    secret = BENCH_KEY.split("_", 2)[2]
    connection = await connect(get_settings(), system.database)
    try:
        await connection.execute(
            "INSERT INTO api_keys (id, prefix, secret_hash, tenant, role) "
            "VALUES (gen_random_uuid(), $1, $2, $3, 'write')",
            BENCH_KEY_PREFIX,
            secret_hash(secret),
            BENCH_TENANT,
        )
    finally:
        await connection.close()


async def drop_database(system: System) -> None:
    await create_database.drop_database(get_settings(), system.database)


async def empty_table(system: System, *, keep_grown: bool = False) -> None:
    """Remove every task (the warm-up's), so a measured run starts from an empty table; with
    `keep_grown`, only the run's own (the rows a growth run preloaded stay)."""
    connection = await connect(get_settings(), system.database)
    try:
        if keep_grown:
            await connection.execute(f"DELETE FROM {system.table} WHERE {system.own_rows}")
            await connection.execute(f"VACUUM (ANALYZE) {system.table}")
            return
        # Taskgate's count of unfinished tasks per tenant goes with them.
        tables = system.table if system.schema is not None else "tasks, tenant_load"
        await connection.execute(f"TRUNCATE {tables}")
    finally:
        await connection.close()


async def delete_queues(system: System) -> None:
    await broker.delete(queues=system.queues, exchanges=system.exchanges)


@contextlib.asynccontextmanager
async def fresh_state(systems: Sequence[System]) -> AsyncIterator[None]:
    """New databases and no queues before; no databases and no queues after."""
    try:
        for system in systems:
            await delete_queues(system)
            await recreate_database(system)
        yield
    finally:
        # Every step is tried even when one before it failed; a failure is reported, not
        # raised over whatever ended the run.
        for system in systems:
            for step in (delete_queues, drop_database):
                try:
                    await step(system)
                except Exception as error:
                    print(f"  cleaning up {system.name}: {error!r}", file=sys.stderr)
