"""The metrics of the rules both sides run (submission, the outbox relay), in the process's
default registry.

Every metric here has labels, so none has a value before its first use: under a worker
group's multiprocess mode no file is written at import (subscribers/metrics_endpoint.py).
Labels are names the deployment chose (handlers, named queues), never tenants or ids.
"""

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter

TASKS_SUBMITTED = Counter(
    "taskgate_tasks_submitted_total",
    "Tasks the API accepted (recorded; an idempotent repeat is not counted), by handler and "
    "named queue.",
    ["handler", "queue"],
)
TASKS_RELAYED = Counter(
    "taskgate_outbox_relayed_total",
    "Task messages the outbox relay sent: publishes never confirmed, scheduled tasks that "
    "came due, retries whose delayed message did not come back in time.",
    ["queue"],
)


def count_submitted(kinds: Iterable[tuple[str, str]]) -> None:
    """Count accepted tasks, given as (handler, queue) pairs."""
    for (handler, queue), number in Tally(kinds).items():
        TASKS_SUBMITTED.labels(handler=handler, queue=queue).inc(number)


def count_relayed(queues: Iterable[str]) -> None:
    """Count task messages the relay sent, by named queue."""
    for queue, number in Tally(queues).items():
        TASKS_RELAYED.labels(queue=queue).inc(number)
