"""`python -m benchmarks` (`make bench`): Taskgate and the baseline, alternating, for
ROUNDS rounds of each mode; the table on stdout, one JSON file per run, the chart."""

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import state
from benchmarks.processes import run_benchmark
from benchmarks.report import table, write_summary
from benchmarks.run import MODES, RunSpec, measure
from benchmarks.systems import (
    DEFAULT_POOL_SIZE,
    DEFAULT_PREFETCH,
    RESULTS,
    ROOT,
    baseline,
    taskgate,
)
from config.settings import Settings

CHART = ROOT / "docs" / "bench.png"


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per run (N)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (C)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per system and mode")
    parser.add_argument("--prefetch", type=int, default=DEFAULT_PREFETCH, help="per worker")
    parser.add_argument(
        "--pool-size", type=int, default=DEFAULT_POOL_SIZE, help="database pool per process"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="single,batch")
    parser.add_argument(
        "--api-processes", type=int, default=1, help="Taskgate API processes (uvicorn --workers)"
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="Taskgate worker processes (faststream run --workers)",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="pace the load at this many tasks/s (0: unpaced)"
    )
    parser.add_argument("--chart", default=str(CHART), help="where the PNG goes ('' for none)")
    args = parser.parse_args(argv)
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = set(args.modes) - set(MODES)
    if unknown or args.tasks < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error(f"modes are {', '.join(MODES)}; N, C and ROUNDS are at least 1")
    return args


async def bench(args: argparse.Namespace, command: str) -> list[dict[str, Any]]:
    sizes = {"prefetch": args.prefetch, "pool_size": args.pool_size}
    processes = {"api_processes": args.api_processes, "worker_processes": args.worker_processes}
    systems = [baseline(**sizes), taskgate(**sizes, **processes)]
    folder = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    async with state.fresh_state(systems):
        for round_number in range(1, args.rounds + 1):
            # Alternate which system goes first, so neither always runs on a warmer server.
            order = systems if round_number % 2 else systems[::-1]
            for mode in args.modes:
                for system in order:
                    spec = RunSpec(
                        system=system,
                        mode=mode,
                        tasks=args.tasks,
                        concurrency=args.concurrency,
                        prefetch=args.prefetch,
                        round=round_number,
                        log_dir=folder / "logs",
                        rate=args.rate,
                    )
                    run = await measure(spec)
                    runs.append(run)
                    (folder / f"{spec.label}.json").write_text(json.dumps(run) + "\n")
                    print(_progress(run), flush=True)
    write_summary(runs, folder / "summary.json", command=command)
    print(f"\nresults: {folder.relative_to(ROOT)}/")
    return runs


def _progress(run: dict[str, Any]) -> str:
    submit, end = run["submit"], run["end_to_end"]
    return (
        f"round {run['round']} {run['mode']:6} {run['system']:8} "
        f"submit {submit['tasks_per_s']:7,.0f}/s p99 {submit['p99_ms']:6.1f} ms | "
        f"end-to-end {end['tasks_per_s']:7,.0f}/s p99 {end['p99_ms']:6.0f} ms | "
        f"CPU {run['cpu_ms_per_task']['total']:.2f} ms/task | "
        f"{run['postgres']['transactions_per_task']:.1f} transactions/task"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    runs = run_benchmark(
        lambda command: bench(args, command),
        "benchmarks",
        argv,
        removed="bench queues and databases",
    )
    print(
        f"\nN={args.tasks}, C={args.concurrency}, rounds={args.rounds}, "
        f"prefetch={args.prefetch}, pool size={args.pool_size}, batches of {MODES['batch']}, "
        f"Taskgate worker concurrency={Settings.model_fields['worker_concurrency'].default}, "
        f"Taskgate processes: {args.api_processes} API, {args.worker_processes} worker"
        f"{f', paced at {args.rate:g} tasks/s' if args.rate else ''}\n"
    )
    print(table(runs))
    if args.chart:
        try:
            from benchmarks.chart import write_chart
        except ImportError:
            print("\nno chart: matplotlib is not installed (pip install -e '.[bench]')")
            return
        write_chart(runs, ROOT / args.chart)
        print(f"\nchart: {args.chart}")


if __name__ == "__main__":
    main()
