"""How the dashboard's aggregates perform on a large table: plans and HTTP latency.

    DB_NAME=taskgate_million python -m benchmarks.explain_results load   # if not loaded
    DB_NAME=taskgate_million python -m benchmarks.explain_dashboard explain
    DB_NAME=taskgate_million python -m benchmarks.explain_dashboard latency --requests 50

`explain` prints, for each aggregate the dashboard's live figures run (db/tasks/activity.py,
the very statements), the plan's index and EXPLAIN ANALYZE's execution time, for an acme
key, a globex key (the smaller tenant) and an operator's key (every tenant), over the
default windows and over longer ones (the loaded tasks are spread over 30 days, a few
thousand an hour: a day and a week stand for busier hours). The windows end at the newest
finished task of the data. `latency` starts the API (as benchmarks/explain_results.py does:
auth on, RabbitMQ out of reach, no retention sweep), signs in to the dashboard with a read
key of acme's and times sequential GETs of its pages, with the default windows and with the
longest ones the settings allow (the row caps then bound the work).
"""

import argparse
import asyncio
import re
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Select
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from benchmarks.explain_results import EVERY_TENANT, explained, percentile, read_keys, start_api
from config.settings import Settings, get_settings
from db.create_database import connect
from db.tasks import activity
from services.activity import COUNTED_TASKS, MEASURED_TASKS

TENANTS = {"acme": frozenset({"acme"}), "globex": frozenset({"globex"}), "operator": EVERY_TENANT}
DEFAULTS = Settings()
HOUR, DAY, WEEK = 3600, 24 * 3600, 7 * 24 * 3600


def statements(tenants: frozenset[str], window: int, chart: int, anchor: Any) -> dict[str, Any]:
    """The dashboard's aggregates over `window` seconds (the chart's over `chart`)."""
    since = anchor - timedelta(seconds=window)
    chart_since = anchor - timedelta(seconds=chart)
    return {
        "counts by queue, priority, status": activity.counts_query(
            tenants, since=since, cap=COUNTED_TASKS
        ),
        "durations (p50/p95/p99)": activity.durations_query(
            tenants, since=since, cap=MEASURED_TASKS
        ),
        "submitted per second": activity.submitted_query(tenants, since=chart_since),
        "finished per second": activity.finished_query(tenants, since=chart_since),
    }


def compiled(query: Select[Any]) -> tuple[str, list[Any]]:
    statement = query.compile(
        dialect=asyncpg_dialect.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},
    )
    params = statement.construct_params()
    return str(statement), [params[name] for name in statement.positiontup or ()]


def summary(plan: list[str]) -> tuple[str, float, list[str]]:
    """The indexes the plan reads, its execution time (ms), and what would make it slow."""
    indexes = sorted(
        set(re.findall(r"Index (?:Only )?Scan(?: Backward)? (?:using|on) (\w+)", " ".join(plan)))
    )
    executed = float(re.search(r"Execution Time: ([\d.]+) ms", "\n".join(plan))[1])  # type: ignore[index]
    slow = [line.strip() for line in plan if "Seq Scan" in line]
    return ", ".join(indexes) or "-", executed, slow


async def explain(repeat: int, verbose: bool) -> None:
    connection = await connect(get_settings(), get_settings().db_name)
    try:
        anchor = await connection.fetchval("SELECT max(finished_at) FROM tasks")
        print(f"windows end at {anchor.isoformat()} (the newest finished task)")
        print(f"{'key':9} {'window':>7} {'aggregate':35} {'ms':>8}  indexes")
        windows = [(DEFAULTS.dashboard_window_seconds, DEFAULTS.dashboard_chart_seconds)]
        windows += [(DAY, HOUR), (WEEK, DAY)]
        for window, chart in windows:
            for who, tenants in TENANTS.items():
                for label, query in statements(tenants, window, chart, anchor).items():
                    sql, params = compiled(query)
                    for _ in range(repeat):  # the last run is shown: the cache is warm by then
                        plan = await explained(connection, sql, params, generic=False)
                    indexes, ms, slow = summary(plan)
                    span = _span(chart if "second" in label else window)
                    print(f"{who:9} {span:>7} {label:35} {ms:8.1f}  {indexes}")
                    for line in slow + (plan if verbose else []):
                        print(f"    {line}")
    finally:
        await connection.close()


def _span(seconds: int) -> str:
    return f"{seconds // DAY} d" if seconds >= DAY else f"{seconds // 60} min"


PAGES = [
    "/dashboard/live",
    "/dashboard/throughput.json",
    "/dashboard",
    "/dashboard/tasks",
    "/dashboard/tasks?status=dead&name=emulate",
    "/dashboard/dead-letters",
]


async def signed_in(http: httpx.AsyncClient, key: str) -> None:
    origin = str(http.base_url).rstrip("/")
    answer = await http.post("/dashboard/login", data={"key": key}, headers={"Origin": origin})
    assert answer.status_code == 303, answer.text


async def time_pages(port: int, key: str, requests: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        await _until(lambda: http.get("/health"))
        await signed_in(http, key)
        print(f"{'page':45} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for page in PAGES:
            samples = []
            for index in range(requests + 5):  # the first 5 warm up
                started = time.perf_counter()
                response = await http.get(page)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (page, response.status_code, response.text)
                if index >= 5:
                    samples.append(elapsed)
            print(
                f"{page:45} {statistics.median(samples):8.1f}"
                f" {percentile(samples, 0.99):8.1f} {max(samples):8.1f}"
            )


async def _until(probe: Callable[[], Any]) -> None:
    for _ in range(150):
        try:
            if (await probe()).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the API did not start")


def latency(requests: int, port: int) -> None:
    key = asyncio.run(read_keys())[frozenset({"acme"})]
    longest = {"DASHBOARD_WINDOW_SECONDS": str(WEEK), "DASHBOARD_CHART_SECONDS": str(HOUR)}
    for label, env in (("default windows", {}), ("a week's counts, an hour's chart", longest)):
        print(f"\n=== {label}")
        api = start_api(port, env)
        try:
            asyncio.run(time_pages(port, key, requests))
        finally:
            api.terminate()
            api.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    plans = commands.add_parser("explain")
    plans.add_argument("--repeat", type=int, default=3)
    plans.add_argument("--verbose", action="store_true", help="print every plan in full")
    timing = commands.add_parser("latency")
    timing.add_argument("--requests", type=int, default=50)
    timing.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    print(f"database {get_settings().db_name!r}")
    if args.command == "explain":
        asyncio.run(explain(args.repeat, args.verbose))
    else:
        latency(args.requests, args.port)


if __name__ == "__main__":
    main()
