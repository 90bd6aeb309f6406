"""`python -m benchmarks.soak` (`make bench-soak`): many tasks through Taskgate alone, to see
what grows with the task table: the memory of the API and the worker (sampled every second)
and the latency of `GET /api/v1/result/?limit=100` (every few seconds, under load)."""

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks.load import LoadResult
from benchmarks.outcome import Finished, read_finished, wait_finished
from benchmarks.processes import run_benchmark
from benchmarks.procfs import memory_kib
from benchmarks.run import MODES, run_load
from benchmarks.stack import Stack
from benchmarks.state import fresh_state
from benchmarks.stats import percentile
from benchmarks.systems import DEFAULT_POOL_SIZE, DEFAULT_PREFETCH, RESULTS, taskgate
from config.settings import get_settings
from db.create_database import connect

LISTING = "/api/v1/result/?limit=100"
# Memory "at warm-up" is the first sample this many seconds into the load.
WARMUP_SECONDS = 10.0
AT_REST_LISTINGS = 5


@dataclass
class Samples:
    # (seconds since the start, API RSS MiB, worker RSS MiB)
    memory: list[tuple[float, float, float]] = field(default_factory=list)
    # (seconds since the start, rows in the table, rows finished, listing ms, HTTP status)
    listing: list[tuple[float, int, int, float, int]] = field(default_factory=list)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--tasks", type=int, default=200_000, help="tasks in all (N)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (C)")
    parser.add_argument("--mode", choices=tuple(MODES), default="single")
    parser.add_argument("--list-every", type=float, default=5.0, help="seconds between lists")
    parser.add_argument("--prefetch", type=int, default=DEFAULT_PREFETCH)
    parser.add_argument("--pool-size", type=int, default=DEFAULT_POOL_SIZE)
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="submitting stops then")
    return parser.parse_args(argv)


async def _list_once(http: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    """One listing request: (latency ms, HTTP status)."""
    sent = time.perf_counter()
    async with http.get(url) as answer:
        await answer.read()
        return (time.perf_counter() - sent) * 1000, answer.status


async def sample(
    stack: Stack, samples: Samples, *, started: float, list_every: float, done: asyncio.Event
) -> None:
    """Every second the RSS of both processes; every `list_every` s a listing, timed."""
    connection = await connect(get_settings(), stack.system.database)
    next_listing = 0.0
    try:
        async with aiohttp.ClientSession(headers=stack.system.headers) as http:
            while not done.is_set():
                stack.check_alive()
                elapsed = time.monotonic() - started
                api, worker = (memory_kib(p.pid, "VmRSS") / 1024 for p in (stack.api, stack.worker))
                samples.memory.append((elapsed, api, worker))
                if elapsed >= next_listing:
                    next_listing = elapsed + list_every
                    rows, finished = await connection.fetchrow(
                        "SELECT count(*), count(finished_at) FROM tasks"
                    )
                    latency, status = await _list_once(http, stack.system.url + LISTING)
                    samples.listing.append((elapsed, rows, finished, latency, status))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=1.0)
    finally:
        await connection.close()


async def soak(args: argparse.Namespace, command: str) -> dict[str, Any]:
    system = taskgate(prefetch=args.prefetch, pool_size=args.pool_size)
    folder = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    samples = Samples()
    async with fresh_state([system]):
        stack = await Stack(system, folder / "logs", "soak").start()
        done = asyncio.Event()
        started = time.monotonic()
        sampler = asyncio.create_task(
            sample(stack, samples, started=started, list_every=args.list_every, done=done)
        )
        try:
            submitted = await run_load(
                system,
                mode=args.mode,
                tasks=args.tasks,
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )
            await wait_finished(system, submitted.accepted, within=600 + args.tasks / 50)
            done.set()
            await sampler
            peak = {p: memory_kib(getattr(stack, p).pid, "VmHWM") / 1024 for p in ("api", "worker")}
            async with aiohttp.ClientSession(headers=system.headers) as http:
                at_rest = [
                    (await _list_once(http, system.url + LISTING))[0]
                    for _ in range(AT_REST_LISTINGS)
                ]
        finally:
            stack.stop()
            done.set()
            sampler.cancel()
            # Whatever went wrong is already on its way up; the sampler's end adds nothing.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sampler
        finished = await read_finished(system)
    result = summarize(args, submitted, finished, samples, peak, at_rest)
    result["command"] = command
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "soak.json").write_text(json.dumps(result) + "\n")
    print(f"results: {folder}/soak.json")
    return result


def summarize(
    args: argparse.Namespace,
    submitted: LoadResult,
    finished: Finished,
    samples: Samples,
    peak: dict[str, float],
    at_rest: list[float],
) -> dict[str, Any]:
    warm = next((s for s in samples.memory if s[0] >= WARMUP_SECONDS), samples.memory[-1])
    end = samples.memory[-1]
    listed = [entry[3] for entry in samples.listing]
    return {
        "tasks": args.tasks,
        "concurrency": args.concurrency,
        "mode": args.mode,
        "submit": {
            "accepted": submitted.accepted,
            "failures": submitted.failures,
            "seconds": submitted.seconds,
            "tasks_per_s": submitted.accepted / submitted.seconds,
            "p50_ms": percentile(submitted.latencies_ms, 50),
            "p99_ms": percentile(submitted.latencies_ms, 99),
        },
        "end_to_end": {
            "finished": finished.finished,
            "succeeded": finished.succeeded,
            "seconds": finished.seconds,
            "tasks_per_s": finished.finished / finished.seconds,
            "p50_ms": percentile(finished.latencies_ms, 50),
            "p99_ms": percentile(finished.latencies_ms, 99),
        },
        "rss_mib": {
            "api": {"warmup": warm[1], "end": end[1], "peak": peak["api"]},
            "worker": {"warmup": warm[2], "end": end[2], "peak": peak["worker"]},
            "warmup_at_seconds": warm[0],
        },
        "listing_ms": {
            "first_three": statistics.median(listed[:3]),
            "last_three_under_load": statistics.median(listed[-3:]),
            "at_rest": statistics.median(at_rest),
            "rows_at_rest": finished.finished,
            "not_200": sum(1 for entry in samples.listing if entry[4] != 200),
        },
        "samples": {"memory": samples.memory, "listing": samples.listing},
    }


def report(result: dict[str, Any]) -> str:
    submit, end, rss, listing = (
        result[key] for key in ("submit", "end_to_end", "rss_mib", "listing_ms")
    )
    lines = [
        f"{result['tasks']:,} tasks, {result['mode']} submits, C={result['concurrency']}: "
        f"{submit['accepted']:,} accepted, failures {submit['failures'] or 'none'}",
        f"submit {submit['tasks_per_s']:,.0f} tasks/s (p50 {submit['p50_ms']:.1f} ms, "
        f"p99 {submit['p99_ms']:.1f} ms); end-to-end {end['tasks_per_s']:,.0f} tasks/s, "
        f"{end['succeeded']:,} succeeded",
        f"RSS after {rss['warmup_at_seconds']:.0f} s -> end (peak): "
        f"API {rss['api']['warmup']:.0f} -> {rss['api']['end']:.0f} ({rss['api']['peak']:.0f}) "
        f"MiB, worker {rss['worker']['warmup']:.0f} -> {rss['worker']['end']:.0f} "
        f"({rss['worker']['peak']:.0f}) MiB",
        f"GET {LISTING}: {listing['first_three']:.1f} ms at first, "
        f"{listing['last_three_under_load']:.1f} ms at the end under load, "
        f"{listing['at_rest']:.1f} ms at rest with {listing['rows_at_rest']:,} rows",
        "",
        "| s | rows | finished | list ms | API RSS MiB | worker RSS MiB |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    memory = result["samples"]["memory"]
    listing_samples = result["samples"]["listing"]
    step = max(1, len(listing_samples) // 12)
    shown = listing_samples[::step]
    if shown[-1] != listing_samples[-1]:
        shown.append(listing_samples[-1])
    for elapsed, rows, done, latency, _ in shown:
        _, api, worker = min(memory, key=lambda sample: abs(sample[0] - elapsed))
        lines.append(
            f"| {elapsed:.0f} | {rows:,} | {done:,} | {latency:.1f} | {api:.0f} | {worker:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    result = run_benchmark(lambda command: soak(args, command), "benchmarks.soak", argv)
    print(report(result))


if __name__ == "__main__":
    main()
