"""`python -m benchmarks.growth` (`make bench-growth`): Taskgate's single-submit run on a table
that already holds many finished tasks, side by side with the same run on an empty table.

The table grows to each size in turn (0, 1,000,000, 10,000,000 by default) with finished
tasks of another tenant, written in SQL through the real schema (every index and trigger)
and then vacuumed, frozen and analysed as autovacuum would leave a table at rest. They
finished within the last few days, inside the default retention, so the sweep keeps them.
At each size the usual measured run follows (`benchmarks.run.measure`: fresh API and
worker, warm-up, N tasks at concurrency C, auth on); only the run's own rows are removed
between runs. The table on stdout gives each size's rate as a share of the empty table's.
"""

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.processes import run_benchmark
from benchmarks.run import RunSpec, measure
from benchmarks.state import fresh_state
from benchmarks.systems import DEFAULT_POOL_SIZE, DEFAULT_PREFETCH, RESULTS, ROOT, System, taskgate
from config.settings import get_settings
from db.create_database import connect

# The preloaded rows' tenant: never the load's, so the run can tell its own rows apart.
HISTORY_TENANT = "history"
# Rows written per statement: each a slice of the time range, oldest first, as they came.
CHUNK = 1_000_000
# Finished within this many days (less than the default 7 days of retention).
SPREAD_DAYS = 6

# Rows $1 + 1 .. $2 of $3 in all: created evenly over the last SPREAD_DAYS days in row
# order; 3 % dead, the rest succeeded; a small payload and result as the bench's no-op has.
# Their ids are UUIDv7 of their creation time, as Taskgate makes them (db/ids.py): a random
# UUID with the millisecond written over its first 48 bits and its version set to 7.
UUID7_OF_CREATED_AT = """encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    placing substring(int8send((extract(epoch FROM created_at) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"""
GROW = f"""
INSERT INTO tasks (id, tenant, name, queue, status, payload, result, error, attempts,
                   created_at, started_at, finished_at, published_at)
SELECT {UUID7_OF_CREATED_AT}, '{HISTORY_TENANT}', 'noop', 'default', status,
       jsonb_build_object('n', i),
       CASE WHEN status = 'succeeded' THEN jsonb_build_object('n', i) END,
       CASE WHEN status = 'dead' THEN 'failed on purpose' END,
       1, created_at, created_at, created_at + interval '5 milliseconds', created_at
FROM (
    SELECT i, CASE WHEN i % 100 < 3 THEN 'dead' ELSE 'succeeded' END AS status,
           now() - interval '{SPREAD_DAYS} days' * (1 - i::float8 / $3) AS created_at
    FROM generate_series($1::bigint + 1, $2::bigint) AS i
) AS rows
"""


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.growth", description=__doc__)
    parser.add_argument(
        "--sizes", default="0,1000000,10000000", help="finished tasks in the table, ascending"
    )
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per run (N)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (C)")
    parser.add_argument("--rounds", type=int, default=1, help="runs at each size")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas, e.g. 0,1000000")
    if not args.sizes or args.sizes != sorted(args.sizes) or args.sizes[0] < 0:
        parser.error("--sizes must be ascending numbers of rows, at least 0, e.g. 0,1000000")
    return args


async def grow(system: System, size: int) -> float:
    """Add history rows until the table holds `size` of them, then vacuum; the seconds taken."""
    started = time.perf_counter()
    connection = await connect(get_settings(), system.database)
    try:
        have = int(
            await connection.fetchval(
                "SELECT count(*) FROM tasks WHERE tenant = $1", HISTORY_TENANT
            )
        )
        target = max(size, have)
        for low in range(have, target, CHUNK):
            high = min(low + CHUNK, target)
            await connection.execute(GROW, low, high, target)
            print(f"  grown to {high:,} rows ({time.perf_counter() - started:,.0f} s)", flush=True)
        if target > have:
            await connection.execute("VACUUM (FREEZE, ANALYZE) tasks")
            await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def table_bytes(system: System) -> dict[str, int]:
    """The size of the tasks table: its heap and its indexes."""
    connection = await connect(get_settings(), system.database)
    try:
        row = await connection.fetchrow(
            "SELECT pg_table_size('tasks') AS heap, pg_indexes_size('tasks') AS indexes"
        )
    finally:
        await connection.close()
    return {"heap": int(row["heap"]), "indexes": int(row["indexes"])}


async def bench(args: argparse.Namespace, command: str) -> list[dict[str, Any]]:
    system = taskgate(prefetch=DEFAULT_PREFETCH, pool_size=DEFAULT_POOL_SIZE)
    folder = RESULTS / time.strftime("growth-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    async with fresh_state([system]):
        for size in args.sizes:
            seconds = await grow(system, size)
            sizes = await table_bytes(system)
            print(
                f"{size:,} finished tasks in the table (grown in {seconds:,.0f} s; heap "
                f"{sizes['heap'] / 2**20:,.0f} MiB, indexes {sizes['indexes'] / 2**20:,.0f} MiB)",
                flush=True,
            )
            runs = []
            for round_number in range(1, args.rounds + 1):
                spec = RunSpec(
                    system=system,
                    mode="single",
                    tasks=args.tasks,
                    concurrency=args.concurrency,
                    prefetch=DEFAULT_PREFETCH,
                    round=round_number,
                    log_dir=folder / "logs",
                    keep_grown=True,
                )
                run = await measure(spec)
                run["table_rows"] = size
                run["table_bytes"] = sizes
                (folder / f"{size}-{round_number}.json").write_text(json.dumps(run) + "\n")
                print(f"  round {round_number}: {_line(run)}", flush=True)
                runs.append(run)
            results.append(_median(size, runs, sizes))
    (folder / "summary.json").write_text(
        json.dumps({"command": command, "sizes": results}, indent=2) + "\n"
    )
    print(f"\nresults: {folder.relative_to(ROOT)}/")
    return results


def _line(run: dict[str, Any]) -> str:
    end, submit = run["end_to_end"], run["submit"]
    return (
        f"end-to-end {end['tasks_per_s']:,.0f}/s, submit p99 {submit['p99_ms']:.1f} ms, "
        f"CPU {run['cpu_ms_per_task']['total']:.2f} ms/task"
    )


def _median(size: int, runs: list[dict[str, Any]], sizes: dict[str, int]) -> dict[str, Any]:
    def median(section: str, key: str) -> float:
        return float(statistics.median(run[section][key] for run in runs))

    return {
        "rows": size,
        "heap_mib": sizes["heap"] / 2**20,
        "indexes_mib": sizes["indexes"] / 2**20,
        "end_to_end_per_s": median("end_to_end", "tasks_per_s"),
        "end_to_end_p99_ms": median("end_to_end", "p99_ms"),
        "submit_p99_ms": median("submit", "p99_ms"),
        "cpu_ms_per_task": median("cpu_ms_per_task", "total"),
        "postgres_cpu_ms_per_task": median("cpu_ms_per_task", "postgres"),
    }


def report(results: list[dict[str, Any]]) -> str:
    """A Markdown table: each size's figures and its rate against the first size's."""
    first = results[0]["end_to_end_per_s"]
    lines = [
        "| finished tasks in the table | heap + indexes | end to end, tasks/s | of the "
        f"{results[0]['rows']:,}-row rate | end-to-end p99 | submit p99 | CPU per task "
        "(PostgreSQL) |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in results:
        lines.append(
            f"| {row['rows']:,} | {row['heap_mib'] + row['indexes_mib']:,.0f} MiB "
            f"| {row['end_to_end_per_s']:,.0f} | {row['end_to_end_per_s'] / first:.0%} "
            f"| {row['end_to_end_p99_ms']:,.0f} ms | {row['submit_p99_ms']:.1f} ms "
            f"| {row['cpu_ms_per_task']:.2f} ms ({row['postgres_cpu_ms_per_task']:.2f}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    results = run_benchmark(lambda command: bench(args, command), "benchmarks.growth", argv)
    print(f"\nN={args.tasks}, C={args.concurrency}, single submits, 1 API + 1 worker, auth on\n")
    print(report(results))


if __name__ == "__main__":
    main()
