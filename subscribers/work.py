"""The work-queue subscribers: run each task's handler and record the outcome.

One subscriber per priority band of every named queue a worker consumes, for messages of
one task and of many (concurrent submits travel together); an admission gate decides which
waiting task runs next.
"""

import asyncio
from typing import Any

from faststream.message import StreamMessage

from config import names
from publishers.messages import TaskBatchMessage, TaskMessage
from publishers.topology import band_of
from subscribers.failure_policy import forward
from subscribers.runtime import WorkerDep, WorkerRuntime
from subscribers.task_observation import observed, record_outcome


async def run_task(task: TaskMessage, worker: WorkerDep) -> None:
    """Run the task's handler and commit the outcome before the ack; a failed attempt
    comes back after its backoff, a task out of attempts goes to the dead-letter queue."""
    await worker.in_flight.run(_run(worker, task, alone=True))


async def run_task_batch(batch: TaskBatchMessage, worker: WorkerDep) -> None:
    """Run each task as `run_task` does, side by side; the message is acked once every
    outcome is committed, and handed back if one could not be (the others are then found
    finished and skipped on redelivery)."""
    await worker.in_flight.run(_run_all(worker, batch))


# A coroutine function, so FastStream awaits it in place: a plain function it would hand to
# a thread for every message.
async def is_task_batch(message: StreamMessage[Any]) -> bool:
    return not message.processed and bool(message.headers.get(names.HEADER_TASK_BATCH))


async def _run_all(worker: WorkerRuntime, batch: TaskBatchMessage) -> None:
    outcomes = await asyncio.gather(
        *(_run(worker, task, alone=False) for task in batch.tasks), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def _run(worker: WorkerRuntime, task: TaskMessage, *, alone: bool) -> None:
    with observed(task, worker.tracer) as attempt:
        async with worker.gate.slot(band_of(task.priority)):
            outcome = await worker.executor.execute(task_id=task.id)
        record_outcome(attempt, outcome)
        await forward(worker.publishers, task, outcome, alone=alone)
