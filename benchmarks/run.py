"""One measured run: one system, one mode, N tasks at concurrency C, from a fresh state."""

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import state
from benchmarks.cpu import CpuMeter, CpuUsage
from benchmarks.load import LoadResult
from benchmarks.outcome import (
    EXIT_FLUSH_SECONDS,
    IDLE_FLUSH_SECONDS,
    Finished,
    read_finished,
    transactions,
    wait_finished,
)
from benchmarks.procfs import tree_memory_kib
from benchmarks.stack import Stack
from benchmarks.stats import buckets, percentile
from benchmarks.systems import ROOT, System

# Tasks per request in each mode.
MODES = {"single": 1, "batch": 100}
# Run through each fresh process pair first (pools filled, code paths warm), then removed.
WARMUP_TASKS = 200
BUCKET_SECONDS = 0.1


@dataclass(frozen=True)
class RunSpec:
    system: System
    mode: str
    tasks: int
    concurrency: int
    prefetch: int
    round: int
    log_dir: Path
    max_seconds: float = 600.0
    # Tasks per second the load is paced at; 0: as fast as the system answers.
    rate: float = 0.0
    # Leave the rows a growth run preloaded in the table (only the run's own are removed).
    keep_grown: bool = False
    # The size of each task's JSON payload (0: an empty object).
    payload_bytes: int = 0

    @property
    def batch_size(self) -> int:
        return MODES[self.mode]

    @property
    def label(self) -> str:
        return f"{self.mode}-{self.system.name}-round{self.round}"


async def run_load(
    system: System,
    *,
    mode: str,
    tasks: int,
    concurrency: int,
    max_seconds: float,
    rate: float = 0.0,
    payload_bytes: int = 0,
) -> LoadResult:
    """Run the load generator as a process of its own, so its CPU is its own."""
    batch_size = MODES[mode]
    path = system.batch_path if batch_size > 1 else system.submit_path
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.load",
        *("--port", str(system.port), "--path", path, "--tasks", str(tasks)),
        *("--concurrency", str(concurrency), "--batch-size", str(batch_size)),
        *("--max-seconds", str(max_seconds), "--rate", str(rate)),
        *("--payload-bytes", str(payload_bytes)),
        *(("--key", system.api_key) if system.api_key else ()),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        output, _ = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.kill()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    result = LoadResult(**json.loads(output))
    if result.failures:
        print(f"  {system.name}: failed submits {result.failures}", file=sys.stderr)
    return result


def _finish_timeout(tasks: int) -> float:
    return 60.0 + tasks / 50


async def measure(spec: RunSpec) -> dict[str, Any]:
    """Start the system afresh, warm it up, measure one run, stop it; the run's figures."""
    system = spec.system
    await state.delete_queues(system)
    await state.empty_table(system, keep_grown=spec.keep_grown)
    stack = await Stack(system, spec.log_dir, spec.label).start()
    try:
        warmup = await run_load(
            system,
            mode=spec.mode,
            tasks=WARMUP_TASKS,
            concurrency=spec.concurrency,
            max_seconds=60,
            payload_bytes=spec.payload_bytes,
        )
        await wait_finished(system, warmup.accepted, within=60)
        await state.empty_table(system, keep_grown=spec.keep_grown)
        transactions_before = await transactions(system, wait=IDLE_FLUSH_SECONDS)
        meter = CpuMeter(stack.api.pid, stack.worker.pid, system.database)
        meter.start()
        submitted = await run_load(
            system,
            mode=spec.mode,
            tasks=spec.tasks,
            concurrency=spec.concurrency,
            max_seconds=spec.max_seconds,
            rate=spec.rate,
            payload_bytes=spec.payload_bytes,
        )
        await wait_finished(system, submitted.accepted, within=_finish_timeout(spec.tasks))
        cpu = await meter.stop()
        stack.check_alive()
        peak_rss_mib = {
            "api": tree_memory_kib(stack.api.pid, "VmHWM") / 1024,
            "worker": tree_memory_kib(stack.worker.pid, "VmHWM") / 1024,
        }
    finally:
        stack.stop()
    # Its processes gone, their backends have reported every transaction of the run.
    transactions_used = await transactions(system, wait=EXIT_FLUSH_SECONDS) - transactions_before
    finished = await read_finished(system)
    return summarize(spec, submitted, finished, cpu, peak_rss_mib, transactions_used)


def summarize(
    spec: RunSpec,
    submitted: LoadResult,
    finished: Finished,
    cpu: CpuUsage,
    peak_rss_mib: dict[str, float],
    transactions_used: int,
) -> dict[str, Any]:
    """A run's figures, as written to its JSON file."""

    def per_task(seconds: float) -> float:
        return seconds * 1000 / finished.finished

    cpu_ms = {
        "api": per_task(cpu.api),
        "worker": per_task(cpu.worker),
        "rabbitmq": per_task(cpu.rabbitmq),
        "postgres": per_task(cpu.postgres),
        "load": per_task(submitted.cpu_seconds),
    }
    cpu_ms["total"] = sum(cpu_ms.values())
    cpu_ms["postgres_all"] = per_task(cpu.postgres_all)
    return {
        "system": spec.system.name,
        "mode": spec.mode,
        "round": spec.round,
        "tasks": spec.tasks,
        "concurrency": spec.concurrency,
        "payload_bytes": spec.payload_bytes,
        "batch_size": spec.batch_size,
        "prefetch": spec.prefetch,
        "submit": {
            "tasks_per_s": submitted.accepted / submitted.seconds,
            "requests": submitted.requests,
            "accepted": submitted.accepted,
            "failures": submitted.failures,
            "seconds": submitted.seconds,
            "p50_ms": percentile(submitted.latencies_ms, 50),
            "p99_ms": percentile(submitted.latencies_ms, 99),
        },
        "end_to_end": {
            "tasks_per_s": finished.finished / finished.seconds,
            "finished": finished.finished,
            "succeeded": finished.succeeded,
            "seconds": finished.seconds,
            "p50_ms": percentile(finished.latencies_ms, 50),
            "p99_ms": percentile(finished.latencies_ms, 99),
        },
        "cpu_ms_per_task": cpu_ms,
        "peak_rss_mib": peak_rss_mib,
        "postgres": {
            # Includes the benchmark's own polling: five a second.
            "transactions_per_task": transactions_used / finished.finished,
            "connections_opened": cpu.connections_opened,
        },
        "series": {
            "finished_per_bucket": buckets(finished.finished_offsets, BUCKET_SECONDS),
            "bucket_seconds": BUCKET_SECONDS,
            "latencies_ms": [round(value, 2) for value in finished.latencies_ms],
        },
    }
