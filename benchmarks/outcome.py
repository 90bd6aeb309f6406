"""What the database says about a run: when each task was created and finished, and how
many transactions it took."""

import asyncio
from dataclasses import dataclass

from benchmarks.systems import System
from benchmarks.waiting import wait_for
from config.settings import get_settings
from db.create_database import connect


@dataclass(frozen=True)
class Finished:
    """Every finished task's timing, from the system's own table."""

    finished: int
    succeeded: int
    # Wall clock (epoch seconds) of the first task's created_at and the last finished_at.
    first_created: float
    last_finished: float
    # finished_at - created_at of each task, in milliseconds.
    latencies_ms: list[float]
    # finished_at of each task, in seconds after first_created.
    finished_offsets: list[float]

    @property
    def seconds(self) -> float:
        return self.last_finished - self.first_created


# PostgreSQL 15 backends report their counts to pg_stat_database when they exit, and when
# idle, up to ten seconds later.
IDLE_FLUSH_SECONDS = 11.0
EXIT_FLUSH_SECONDS = 0.5


async def transactions(system: System, *, wait: float) -> int:
    """Transactions committed or rolled back in the system's database, as reported after
    `wait` seconds."""
    await asyncio.sleep(wait)
    connection = await connect(get_settings(), system.database)
    try:
        count = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            system.database,
        )
    finally:
        await connection.close()
    return int(count)


async def wait_finished(system: System, expected: int, *, within: float) -> None:
    """Poll the table (over one connection) until `expected` tasks have finished."""
    connection = await connect(get_settings(), system.database)
    query = (
        f"SELECT count(*) FROM {system.table} WHERE {system.own_rows} AND finished_at IS NOT NULL"
    )

    async def done() -> bool:
        return int(await connection.fetchval(query)) >= expected

    try:
        await wait_for(done, within=within, what=f"{expected} {system.name} tasks to finish")
    finally:
        await connection.close()


async def read_finished(system: System) -> Finished:
    connection = await connect(get_settings(), system.database)
    try:
        rows = await connection.fetch(
            "SELECT extract(epoch FROM created_at)::float8 AS created,"
            " extract(epoch FROM finished_at)::float8 AS finished, status"
            f" FROM {system.table} WHERE {system.own_rows} AND finished_at IS NOT NULL"
        )
    finally:
        await connection.close()
    if not rows:
        raise RuntimeError(f"no {system.name} task finished")
    first = min(row["created"] for row in rows)
    return Finished(
        finished=len(rows),
        succeeded=sum(1 for row in rows if row["status"] == "succeeded"),
        first_created=first,
        last_finished=max(row["finished"] for row in rows),
        latencies_ms=[(row["finished"] - row["created"]) * 1000 for row in rows],
        finished_offsets=[row["finished"] - first for row in rows],
    )
