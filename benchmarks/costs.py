"""`python -m benchmarks.costs` (`make bench-costs`): how Taskgate's cost grows with the
requests in flight and with the size of each task's payload.

Single submits through 1 API and 1 worker process (auth on), one measured run per point
(`benchmarks.run.measure`: fresh processes, warm-up, N tasks): concurrency 1, 8, 64 and 256
with an empty payload, then payloads of 100 B, 10 KiB and 100 KiB at concurrency 64. How it
grows with the table's size is `make bench-growth`'s part.
"""

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.processes import run_benchmark
from benchmarks.run import RunSpec, measure
from benchmarks.state import fresh_state
from benchmarks.systems import DEFAULT_POOL_SIZE, DEFAULT_PREFETCH, RESULTS, ROOT, taskgate

CONCURRENCIES = (1, 8, 64, 256)
PAYLOADS = (100, 10 * 1024, 100 * 1024)
PAYLOAD_CONCURRENCY = 64


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.costs", description=__doc__)
    parser.add_argument("--tasks", type=int, default=3000, help="tasks per run (N)")
    return parser.parse_args(argv)


def points() -> list[tuple[int, int]]:
    """(concurrency, payload bytes) of each run, in order."""
    return [(c, 0) for c in CONCURRENCIES] + [(PAYLOAD_CONCURRENCY, p) for p in PAYLOADS]


async def bench(args: argparse.Namespace, command: str) -> list[dict[str, Any]]:
    system = taskgate(prefetch=DEFAULT_PREFETCH, pool_size=DEFAULT_POOL_SIZE)
    folder = RESULTS / time.strftime("costs-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    async with fresh_state([system]):
        for number, (concurrency, payload_bytes) in enumerate(points(), start=1):
            spec = RunSpec(
                system=system,
                mode="single",
                tasks=args.tasks,
                concurrency=concurrency,
                prefetch=DEFAULT_PREFETCH,
                round=number,
                log_dir=folder / "logs",
                payload_bytes=payload_bytes,
            )
            run = await measure(spec)
            (folder / f"c{concurrency}-p{payload_bytes}.json").write_text(json.dumps(run) + "\n")
            print(f"  {_point(run)}: {_figures(run)}", flush=True)
            runs.append(run)
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "command": command,
                "runs": [{k: v for k, v in r.items() if k != "series"} for r in runs],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nresults: {folder.relative_to(ROOT)}/")
    return runs


def _point(run: dict[str, Any]) -> str:
    size = run["payload_bytes"]
    payload = "{}" if not size else f"{size / 1024:g} KiB" if size >= 1024 else f"{size} B"
    return f"C={run['concurrency']}, payload {payload}"


def _figures(run: dict[str, Any]) -> str:
    end, submit, cpu = run["end_to_end"], run["submit"], run["cpu_ms_per_task"]
    return (
        f"end-to-end {end['tasks_per_s']:,.0f}/s, submit p99 {submit['p99_ms']:.1f} ms, "
        f"CPU {cpu['total']:.2f} ms/task (API {cpu['api']:.2f}, worker {cpu['worker']:.2f}, "
        f"PostgreSQL {cpu['postgres']:.2f})"
    )


def report(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| concurrency | payload | end to end, tasks/s | submit p50 / p99 | end-to-end p99 "
        "| CPU per task: all (API, worker, PostgreSQL) |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        end, submit, cpu = run["end_to_end"], run["submit"], run["cpu_ms_per_task"]
        concurrency, payload = _point(run).split(", payload ")
        lines.append(
            f"| {concurrency.removeprefix('C=')} | {payload} | {end['tasks_per_s']:,.0f} "
            f"| {submit['p50_ms']:.1f} / {submit['p99_ms']:.1f} ms | {end['p99_ms']:,.0f} ms "
            f"| {cpu['total']:.2f} ms ({cpu['api']:.2f}, {cpu['worker']:.2f}, "
            f"{cpu['postgres']:.2f}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    runs = run_benchmark(lambda command: bench(args, command), "benchmarks.costs", argv)
    print(f"\nN={args.tasks}, single submits, 1 API + 1 worker, auth on\n")
    print(report(runs))


if __name__ == "__main__":
    main()
