"""How the results listing performs on a large table: plans and HTTP latency.

    DB_NAME=taskgate_bench python -m benchmarks.explain_results load --rows 1000000
    DB_NAME=taskgate_bench python -m benchmarks.explain_results explain
    DB_NAME=taskgate_bench python -m benchmarks.explain_results latency --requests 200
    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE taskgate_bench WITH (FORCE)'

`load` creates and migrates DB_NAME and fills it in SQL (INSERT ... SELECT generate_series):
a month of tasks of two tenants (acme 80 %, globex 20 %) with skewed handlers (echo 50 %,
..., audit 0.01 %), queues (default 90 %, bulk 9 %, critical 1 %) and statuses (succeeded
~96 %, dead ~3.5 % of the failing handlers only, cancelled, scheduled, and the newest 2,000
waiting or running). The listings are acme's, as an acme key sees them (and two as an
operator's key sees every tenant). `explain` prints
EXPLAIN (ANALYZE, BUFFERS) of the first page for each filter, with the very query the API
sends (built by the service), and flags a sequential scan or a sort of many rows. `latency`
starts the API under uvicorn on 127.0.0.1 (RabbitMQ is pointed at a closed port: reads do
not need it, and a benchmark must not declare queues on a shared broker) and times
sequential first-page GETs. `explain --generic` shows the plans a prepared statement (the
API's driver prepares every query) may switch to after five runs: made for any value.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from config.settings import get_settings
from db.create_database import connect, create_database
from db.models import Role
from db.session import Database
from db.tasks.filters import TaskFilter
from db.tasks.reads import Cursor, page_query
from services.keys import create_key
from services.pagination import encode_cursor

ROOT = Path(__file__).resolve().parents[1]
PAGE_SIZE = 100
TENANT = frozenset({"acme"})
# What an operator's key sees: every tenant a key was made for, and "" (no tenant).
EVERY_TENANT = frozenset({"", "acme", "globex"})
WAITING_STATUSES = ("scheduled", "queued", "running", "retrying")

LOAD = """
INSERT INTO tasks (id, tenant, name, queue, status, payload, result, error, attempts,
                   created_at, started_at, finished_at, published_at, run_at)
SELECT gen_random_uuid(), tenant, name, queue, status, jsonb_build_object('n', i),
       CASE WHEN status = 'succeeded' THEN jsonb_build_object('n', i) END,
       CASE WHEN status = 'dead' THEN 'failed on purpose' END,
       CASE WHEN status IN ('succeeded', 'dead') THEN 1 ELSE 0 END,
       created_at,
       CASE WHEN status IN ('succeeded', 'dead', 'running') THEN created_at END,
       CASE WHEN status IN ('succeeded', 'dead', 'cancelled')
            THEN created_at + interval '1 second' END,
       created_at,
       CASE WHEN status = 'scheduled' THEN created_at + interval '400 days' END
FROM (
    SELECT i, created_at, name,
           CASE WHEN r_tenant < 0.80 THEN 'acme' ELSE 'globex' END AS tenant,
           CASE WHEN r_queue < 0.90 THEN 'default' WHEN r_queue < 0.99 THEN 'bulk'
                ELSE 'critical' END AS queue,
           CASE
               WHEN i > $1 - 2000 THEN (ARRAY['queued', 'running', 'retrying'])[1 + i % 3]
               WHEN i % 1000 = 0 THEN 'scheduled'
               WHEN r_status < 0.003 THEN 'cancelled'
               WHEN r_status < CASE name WHEN 'emulate' THEN 0.20 WHEN 'resize' THEN 0.05
                                         WHEN 'report' THEN 0.02 WHEN 'invoice' THEN 0.02
                                         ELSE 0 END THEN 'dead'
               ELSE 'succeeded'
           END AS status
    FROM (
        SELECT i, now() - interval '30 days' * (1 - i::float8 / $1) AS created_at,
               CASE WHEN r_name < 0.50 THEN 'echo' WHEN r_name < 0.70 THEN 'sleep'
                    WHEN r_name < 0.85 THEN 'emulate' WHEN r_name < 0.95 THEN 'resize'
                    WHEN r_name < 0.99 THEN 'report' WHEN r_name < 0.9999 THEN 'invoice'
                    ELSE 'audit' END AS name,
               r_queue, r_status, r_tenant
        FROM (SELECT i, random() AS r_name, random() AS r_queue, random() AS r_status,
                     random() AS r_tenant
              FROM generate_series(1, $1) AS i) AS draws
    ) AS named
) AS generated
"""


@dataclass(frozen=True)
class Case:
    """One listing to measure: its query parameters, and where its page starts."""

    label: str
    params: dict[str, Any] = field(default_factory=dict)
    cursor: Cursor | None = None
    # Whose tasks: a tenant's key sees its own; an operator's key every tenant's.
    tenants: frozenset[str] = TENANT

    def task_filter(self) -> TaskFilter:
        def values(key: str) -> list[str]:
            value = self.params.get(key, [])
            return [value] if isinstance(value, str) else list(value)

        return TaskFilter.of(
            tenants=self.tenants,
            statuses=values("status"),
            names=values("name"),
            queues=values("queue"),
            created_after=self.params.get("created_after"),
            created_before=self.params.get("created_before"),
        )

    def query_string(self) -> dict[str, Any]:
        query = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in self.params.items()
        }
        if self.cursor is not None:
            query["cursor"] = encode_cursor(self.cursor)
        return {**query, "limit": PAGE_SIZE}


async def cases() -> list[Case]:
    """The listings measured; time ranges and the cursor are placed within the data."""
    connection = await connect(get_settings(), get_settings().db_name)
    try:
        oldest, newest = await connection.fetchrow(
            "SELECT min(created_at), max(created_at) FROM tasks"
        )
        middle = await connection.fetchrow(
            "SELECT created_at, id FROM tasks WHERE created_at <= $1"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            oldest + (newest - oldest) / 2,
        )
    finally:
        await connection.close()
    day = {"created_after": middle["created_at"] - timedelta(days=1)}
    day["created_before"] = middle["created_at"]
    return [
        Case("no filter"),
        Case("no filter, page in the middle", cursor=Cursor(middle["created_at"], middle["id"])),
        Case("status=succeeded", {"status": "succeeded"}),
        Case("status=dead", {"status": "dead"}),
        Case("status=scheduled,queued,running,retrying", {"status": list(WAITING_STATUSES)}),
        Case("status=dead,cancelled", {"status": ["dead", "cancelled"]}),
        Case("name=echo", {"name": "echo"}),
        Case("name=audit (0.01 %)", {"name": "audit"}),
        Case("queue=critical", {"queue": "critical"}),
        Case("status=dead&name=emulate", {"status": "dead", "name": "emulate"}),
        Case("status=dead&name=invoice", {"status": "dead", "name": "invoice"}),
        Case("status=dead&name=echo (no match)", {"status": "dead", "name": "echo"}),
        Case("created range (one day)", day),
        Case("created range&status=dead", {**day, "status": "dead"}),
        Case("operator: no filter", tenants=EVERY_TENANT),
        Case("operator: status=dead", {"status": "dead"}, tenants=EVERY_TENANT),
    ]


def compiled(case: Case) -> tuple[str, list[Any]]:
    """The SQL and parameters the API sends for the case's first page (asyncpg style)."""
    query = page_query(case.task_filter(), after=case.cursor, size=PAGE_SIZE + 1)
    statement = query.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    params = statement.construct_params()
    return str(statement), [params[name] for name in statement.positiontup or ()]


def warnings_in(plan: list[str]) -> list[str]:
    """What would make the plan slow on a large table."""
    found = [line.strip() for line in plan if "Seq Scan" in line]
    for line in plan:
        if "Sort" in line and "rows=" in line and "Merge" not in line:
            rows = int(line.split("rows=")[-1].split()[0])
            if rows > 10 * (PAGE_SIZE + 1):
                found.append(line.strip())
    return found


async def explained(connection: Any, sql: str, params: list[Any], *, generic: bool) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the query: the plan PostgreSQL makes for these values,
    or (generic) the one a prepared statement may switch to after five runs, made for any."""
    if not generic:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params)
        return [row[0] for row in rows]
    literals = [await connection.fetchval("SELECT quote_literal($1::text)", str(p)) for p in params]
    await connection.execute(f"PREPARE listing AS {sql}")
    try:
        rows = await connection.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE listing({', '.join(literals)})"
        )
    finally:
        await connection.execute("DEALLOCATE listing")
    return [row[0] for row in rows]


async def explain(repeat: int, generic: bool) -> None:
    connection = await connect(get_settings(), get_settings().db_name)
    try:
        if generic:
            await connection.execute("SET plan_cache_mode = force_generic_plan")
        for case in await cases():
            sql, params = compiled(case)
            for _ in range(repeat):  # the last run is shown: the cache is warm by then
                plan = await explained(connection, sql, params, generic=generic)
            print(f"\n=== {case.label}")
            print("\n".join(line for line in plan if not line.startswith("  Buffers: shared hit=")))
            for warning in warnings_in(plan):
                print(f"!!! {warning}")
    finally:
        await connection.close()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_api(port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The API under uvicorn, against DB_NAME, with auth on (as users run it), RabbitMQ
    out of reach on purpose, and no retention sweep (the loaded tasks are up to 30 days
    old: the sweep would delete most of them)."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
        + ["--port", str(port), "--no-access-log", "--log-level", "error"],
        cwd=ROOT,
        env={
            **os.environ,
            "RMQ_HOST": "127.0.0.1",
            "RMQ_PORT": "1",
            "AUTH_ENABLED": "true",
            "TASKGATE_SECRET": "explain-results-bench-secret",
            "RETENTION_SUCCEEDED_SECONDS": "0",
            "RETENTION_DEAD_SECONDS": "0",
            **(env or {}),
        },
    )


async def read_keys() -> dict[frozenset[str], str]:
    """A read key of acme's, and an operator's, made for this run."""

    async def make(tenant: str, all_tenants: bool) -> str:
        async with database.session() as session:
            made = await create_key(
                session=session, tenant=tenant, role=Role.READ, all_tenants=all_tenants
            )
        return made.key

    database = Database(get_settings())
    try:
        await make("globex", False)  # an operator sees the tenants keys were made for
        return {TENANT: await make("acme", False), EVERY_TENANT: await make("ops", True)}
    finally:
        await database.dispose()


async def latency(requests: int, port: int) -> None:
    keys = await read_keys()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for _ in range(100):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        print(f"{'listing':45} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for case in await cases():
            query = case.query_string()
            samples = []
            for index in range(requests + 10):  # the first 10 warm up
                started = time.perf_counter()
                response = await client.get(
                    "/api/v1/result/",
                    params=query,
                    headers={"Authorization": f"Bearer {keys[case.tenants]}"},
                )
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                if index >= 10:
                    samples.append(elapsed)
            print(
                f"{case.label:45} {statistics.median(samples):8.1f}"
                f" {percentile(samples, 0.99):8.1f} {max(samples):8.1f}"
            )


async def fill(rows: int) -> None:
    connection = await connect(get_settings(), get_settings().db_name)
    try:
        # No NOTIFY per finished row (replica mode skips triggers) and a repeatable draw.
        await connection.execute("SET session_replication_role = replica")
        await connection.execute("SELECT setseed(0.42)")
        started = time.monotonic()
        await connection.execute(LOAD, rows)
        await connection.execute("VACUUM ANALYZE tasks")
        print(f"loaded {rows} rows in {time.monotonic() - started:.1f} s")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("load").add_argument("--rows", type=int, default=1_000_000)
    plans = commands.add_parser("explain")
    plans.add_argument("--repeat", type=int, default=3)
    plans.add_argument("--generic", action="store_true", help="plans made for any values")
    timing = commands.add_parser("latency")
    timing.add_argument("--requests", type=int, default=200)
    timing.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    print(f"database {get_settings().db_name!r}")
    if args.command == "load":
        asyncio.run(create_database(get_settings()))
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True)
        asyncio.run(fill(args.rows))
    elif args.command == "explain":
        asyncio.run(explain(args.repeat, args.generic))
    else:
        api = start_api(args.port)
        try:
            asyncio.run(latency(args.requests, args.port))
        finally:
            api.terminate()
            api.wait(10)


if __name__ == "__main__":
    main()
