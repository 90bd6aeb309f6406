"""The worker's metrics of tasks (not messages: one message may carry up to 100 tasks), by
handler and named queue: attempts started and how each ended, how long tasks waited to
start and how long their handlers ran, and how many run now.

Every metric has labels, so none has a value (or, in a worker group's multiprocess mode, a
file) before its first use; `running` is summed over the group's live processes.
"""

import contextlib
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from db.tasks.attempts import Claimed

# Wide: a task may wait out a backlog, or run for minutes.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

STARTED = Counter(
    "taskgate_worker_tasks_started_total",
    "Attempts whose handler started, by handler and named queue.",
    ["handler", "queue"],
)
SUCCEEDED = Counter(
    "taskgate_worker_tasks_succeeded_total",
    "Tasks that succeeded, by handler and named queue.",
    ["handler", "queue"],
)
RETRIED = Counter(
    "taskgate_worker_tasks_retried_total",
    "Failed attempts that will be retried after their backoff, by handler and named queue.",
    ["handler", "queue"],
)
DEAD = Counter(
    "taskgate_worker_tasks_dead_total",
    "Tasks that failed for good (out of attempts, unknown handler, worker lost past the "
    "last attempt), by handler and named queue.",
    ["handler", "queue"],
)
CANCELLED = Counter(
    "taskgate_worker_tasks_cancelled_total",
    "Running (or claimed) tasks a worker ended as cancelled on request, by handler and "
    "named queue.",
    ["handler", "queue"],
)
QUEUE_WAIT = Histogram(
    "taskgate_worker_task_queue_wait_seconds",
    "From when a task could first run (created, or due: its run_at, its retry's backoff) to "
    "the start of its attempt, by handler.",
    ["handler"],
    buckets=SECONDS_BUCKETS,
)
RUN_TIME = Histogram(
    "taskgate_worker_task_run_seconds",
    "How long the handler of an attempt ran, whatever its outcome, by handler.",
    ["handler"],
    buckets=SECONDS_BUCKETS,
)
RUNNING = Gauge(
    "taskgate_worker_tasks_running",
    "Attempts running now, by handler and named queue (summed over live worker processes).",
    ["handler", "queue"],
    multiprocess_mode="livesum",
)


@dataclass(frozen=True)
class _Series:
    """The series of one handler and queue, looked up once (a lookup costs more than the
    increment)."""

    started: Any
    endings: dict[str, Any]
    queue_wait: Any
    run_time: Any
    running: Any


@functools.lru_cache(maxsize=1024)
def _series(handler: str, queue: str) -> _Series:
    labels = {"handler": handler, "queue": queue}
    return _Series(
        started=STARTED.labels(**labels),
        # By the value of the verdict (subscribers/execution.py) that ended the task.
        endings={
            "succeeded": SUCCEEDED.labels(**labels),
            "retry later": RETRIED.labels(**labels),
            "dead": DEAD.labels(**labels),
            "cancelled": CANCELLED.labels(**labels),
        },
        queue_wait=QUEUE_WAIT.labels(handler=handler),
        run_time=RUN_TIME.labels(handler=handler),
        running=RUNNING.labels(**labels),
    )


@contextlib.contextmanager
def running(claim: Claimed) -> Iterator[None]:
    """Around a handler's run: counts the start and the wait before it, times the run."""
    series = _series(claim.name, claim.queue)
    series.started.inc()
    if claim.waited_seconds is not None:
        series.queue_wait.observe(claim.waited_seconds)
    series.running.inc()
    started = time.perf_counter()
    try:
        yield
    finally:
        series.run_time.observe(time.perf_counter() - started)
        series.running.dec()


def ended(claim: Claimed, verdict: str) -> None:
    """Count how a task this worker claimed ended (its verdict's value; a skipped one, such
    as an attempt that lost its lease, is not counted)."""
    counter = _series(claim.name, claim.queue).endings.get(verdict)
    if counter is not None:
        counter.inc()
