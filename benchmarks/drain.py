"""`python -m benchmarks.drain` (`make bench-drain`): how fast one worker process drains a deep
backlog, and whether it keeps that pace to the end.

The API alone runs first: N tasks go in through the batch endpoint (auth on) and the outbox
publishes every one, so the whole backlog waits in RabbitMQ and in the table. Then the worker
starts, and the tasks it has finished are read every second (from the tenant's count of
unfinished tasks, which the database keeps: no count over the table). The report gives the
rate over the whole drain, over each tenth of it, the last tenth against the first, and the
CPU per task of the worker and of PostgreSQL meanwhile.
"""

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.cpu import CpuMeter
from benchmarks.processes import run_benchmark
from benchmarks.run import run_load
from benchmarks.stack import Stack
from benchmarks.state import fresh_state
from benchmarks.stats import rates_by_part
from benchmarks.systems import (
    BENCH_TENANT,
    DEFAULT_POOL_SIZE,
    DEFAULT_PREFETCH,
    RESULTS,
    ROOT,
    System,
    taskgate,
)
from benchmarks.waiting import wait_for
from config.settings import get_settings
from db.create_database import connect

SAMPLE_SECONDS = 1.0
TENTHS = 10


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drain", description=__doc__)
    parser.add_argument("--tasks", type=int, default=200_000, help="tasks in the backlog (N)")
    parser.add_argument("--concurrency", type=int, default=8, help="batch requests in flight")
    parser.add_argument("--prefetch", type=int, default=DEFAULT_PREFETCH)
    parser.add_argument(
        "--worker-processes", type=int, default=1, help="faststream run --workers (1: one)"
    )
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="give up after")
    args = parser.parse_args(argv)
    if args.tasks < TENTHS * 100:
        parser.error(f"--tasks must be at least {TENTHS * 100:,}")
    return args


class Backlog:
    """Reads how many of the bench tenant's tasks are unfinished, and how many unpublished."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.connection: Any = None

    async def __aenter__(self) -> "Backlog":
        self.connection = await connect(get_settings(), self.system.database)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.connection.close()

    async def unfinished(self) -> int:
        value = await self.connection.fetchval(
            "SELECT unfinished FROM tenant_load WHERE tenant = $1", BENCH_TENANT
        )
        return int(value or 0)

    async def unpublished(self) -> int:
        # The outbox's own partial index: cheap however many tasks the table holds.
        return int(
            await self.connection.fetchval("SELECT count(*) FROM tasks WHERE published_at IS NULL")
        )


async def bench(args: argparse.Namespace, command: str) -> dict[str, Any]:
    system = taskgate(
        prefetch=args.prefetch,
        pool_size=DEFAULT_POOL_SIZE,
        worker_processes=args.worker_processes,
    )
    folder = RESULTS / time.strftime("drain-%Y%m%d-%H%M%S")
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    async with fresh_state([system]), Backlog(system) as backlog:
        stack = Stack(system, logs, "drain")
        try:
            await stack.start_api()
            started = time.perf_counter()
            submitted = await run_load(
                system,
                mode="batch",
                tasks=args.tasks,
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )
            backlog_total = await backlog.unfinished()

            async def published() -> bool:
                return await backlog.unpublished() == 0

            await wait_for(published, within=300, what="the outbox to publish every task")
            filled = time.perf_counter() - started
            print(
                f"backlog: {backlog_total:,} tasks accepted and published in {filled:,.0f} s "
                f"({submitted.accepted / submitted.seconds:,.0f}/s accepted)",
                flush=True,
            )
            samples, cpu = await _drain(stack, backlog, backlog_total, args.max_seconds)
        finally:
            stack.stop()
    result = _summary(samples, backlog_total, cpu)
    result["command"] = command
    (folder / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {folder.relative_to(ROOT)}/")
    return result


async def _drain(
    stack: Stack, backlog: Backlog, total: int, max_seconds: float
) -> tuple[list[tuple[float, int]], dict[str, float]]:
    """Start the worker and sample (seconds, tasks finished) until the backlog is gone."""
    await stack.start_worker()
    meter = CpuMeter(stack.api.pid, stack.worker.pid, stack.system.database)
    meter.start()
    started = time.perf_counter()
    samples: list[tuple[float, int]] = [(0.0, 0)]
    while samples[-1][1] < total:
        await asyncio.sleep(SAMPLE_SECONDS)
        stack.check_alive()
        elapsed = time.perf_counter() - started
        done = total - await backlog.unfinished()
        samples.append((elapsed, done))
        if len(samples) % 10 == 0:
            print(f"  {elapsed:5.0f} s: {done:,} finished", flush=True)
        if elapsed > max_seconds:
            raise TimeoutError(f"{total - done:,} tasks still unfinished after {elapsed:.0f} s")
    usage = await meter.stop()
    cpu = {
        "worker_ms_per_task": usage.worker * 1000 / total,
        "postgres_ms_per_task": usage.postgres * 1000 / total,
        "rabbitmq_ms_per_task": usage.rabbitmq * 1000 / total,
    }
    return samples, cpu


def _summary(samples: list[tuple[float, int]], total: int, cpu: dict[str, float]) -> dict[str, Any]:
    """The drain's rates: from the first task finished to the last, and per tenth."""
    first = next(seconds for seconds, done in samples if done > 0)
    last = samples[-1][0]
    tenths = rates_by_part(samples, total, TENTHS)
    return {
        "tasks": total,
        "seconds": last,
        "tasks_per_s": total / (last - first + SAMPLE_SECONDS),
        "tenths_per_s": tenths,
        "last_to_first_tenth": tenths[-1] / tenths[0],
        "cpu": cpu,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    result = run_benchmark(lambda command: bench(args, command), "benchmarks.drain", argv)
    tenths = " ".join(f"{rate:,.0f}" for rate in result["tenths_per_s"])
    cpu = result["cpu"]
    print(
        f"\ndrained {result['tasks']:,} tasks with {args.worker_processes} worker process(es) in "
        f"{result['seconds']:,.0f} s:"
        f" {result['tasks_per_s']:,.0f} tasks/s\n"
        f"per tenth of the backlog (tasks/s): {tenths}\n"
        f"last tenth / first tenth: {result['last_to_first_tenth']:.2f}\n"
        f"CPU per task: worker {cpu['worker_ms_per_task']:.3f} ms, PostgreSQL "
        f"{cpu['postgres_ms_per_task']:.3f} ms, RabbitMQ {cpu['rabbitmq_ms_per_task']:.3f} ms"
    )


if __name__ == "__main__":
    main()
