"""The load generator: N tasks over HTTP at concurrency C, one per request or in batches,
each request's latency recorded; as fast as answers come, or paced at a fixed rate. Bounded
in count and in time; 127.0.0.1 only.

Run by the benchmark as its own process, so its CPU is its own (`resource.getrusage`):
    python -m benchmarks.load --port 18000 --path /api/v1/queue/ --tasks 5000
It prints one JSON object (LoadResult).

aiohttp rather than httpx: at 64 concurrent requests httpx's client spent ~4.4 ms of CPU per
request here against aiohttp's ~0.25 ms, on a machine where the client shares two cores
with what it measures.
"""

import argparse
import asyncio
import dataclasses
import json
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp

TASK: dict[str, object] = {"name": "noop", "payload": {}}
# What {"data": ""} takes in the JSON body around the filler.
PAYLOAD_OVERHEAD = len(json.dumps({"data": ""}))
REQUEST_TIMEOUT_SECONDS = 30.0
ACCEPTED = (200, 202)


@dataclass
class LoadResult:
    tasks: int
    accepted: int = 0
    requests: int = 0
    # Failed requests by HTTP status or exception name.
    failures: dict[str, int] = field(default_factory=dict)
    # Wall time from the first request sent to the last answer received.
    seconds: float = 0.0
    # Wall clock (epoch seconds) of the first request.
    started_at: float = 0.0
    cpu_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


def task(payload_bytes: int) -> dict[str, object]:
    """The task sent: the no-op, its payload {} or about `payload_bytes` of JSON."""
    if payload_bytes <= PAYLOAD_OVERHEAD:
        return TASK
    return {**TASK, "payload": {"data": "x" * (payload_bytes - PAYLOAD_OVERHEAD)}}


def _bodies(tasks: int, batch_size: int, payload_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(task count, request body) for each request: single tasks, or {"tasks": [...]}."""
    one = task(payload_bytes)
    if batch_size <= 1:
        single = json.dumps(one).encode()
        for _ in range(tasks):
            yield 1, single
        return
    for start in range(0, tasks, batch_size):
        count = min(batch_size, tasks - start)
        yield count, json.dumps({"tasks": [one] * count}).encode()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def submit(
    *,
    port: int,
    path: str,
    tasks: int,
    concurrency: int = 64,
    batch_size: int = 1,
    max_seconds: float = 600.0,
    rate: float = 0.0,
    key: str | None = None,
    payload_bytes: int = 0,
) -> LoadResult:
    """Submit `tasks` tasks to 127.0.0.1:`port``path`; stops early after `max_seconds`.
    With `rate` > 0, requests are sent on a schedule of `rate` tasks per second (still at
    most `concurrency` in flight)."""
    url = f"http://127.0.0.1:{port}{path}"
    result = LoadResult(tasks=tasks)
    bodies = _bodies(tasks, batch_size, payload_bytes)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    deadline = started + max_seconds
    result.started_at = time.time()
    scheduled = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal scheduled
        for count, body in bodies:
            if rate > 0:
                due = started + scheduled / rate
                scheduled += count
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if time.perf_counter() > deadline:
                return
            sent = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError) as error:
                failure = type(error).__name__
            else:
                failure = "" if status in ACCEPTED else str(status)
            result.latencies_ms.append((time.perf_counter() - sent) * 1000)
            result.requests += 1
            if failure:
                result.failures[failure] = result.failures.get(failure, 0) + 1
            else:
                result.accepted += count

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = _cpu_seconds() - cpu_before
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=0.0, help="tasks/s; 0: unpaced")
    parser.add_argument("--key", default=None, help="API key sent as a Bearer token")
    parser.add_argument("--payload-bytes", type=int, default=0, help="JSON payload size (0: {})")
    args = parser.parse_args(argv)
    result = asyncio.run(
        submit(
            port=args.port,
            path=args.path,
            tasks=args.tasks,
            concurrency=args.concurrency,
            batch_size=args.batch_size,
            max_seconds=args.max_seconds,
            rate=args.rate,
            key=args.key,
            payload_bytes=args.payload_bytes,
        )
    )
    json.dump(dataclasses.asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
