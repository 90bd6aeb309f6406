"""The work-queue subscribers: run each task's handler and record the outcome.

One subscriber per priority band of every named queue this worker consumes
(TASKGATE_WORKER_QUEUES, else all), for messages of one task and of many (concurrent
submits travel together); an admission gate decides which waiting task runs next.
"""

import asyncio
import logging
from typing import Any

from faststream.exceptions import RejectMessage
from faststream.message import StreamMessage
from faststream.rabbit import RabbitRouter

from app.handlers.loader import load_handlers
from app.services.admission import AdmissionGate
from app.services.cancel_requests import CancelRequests
from app.services.execution import Executor, Outcome, Verdict
from app.services.leases import LeaseKeeper
from app.services.queues import consumed_queues
from app.settings import get_settings
from db.errors import database_unavailable
from publishers import constants
from publishers.messages import TaskBatchMessage, TaskMessage
from publishers.tasks import publish_dead_letter, publish_task_later
from publishers.topology import Band, band_of, work_exchange, work_queue
from subscribers.outage import requeue_after_pause
from subscribers.poison import PoisonMessageMiddleware

logger = logging.getLogger(__name__)

router = RabbitRouter(middlewares=(PoisonMessageMiddleware,))
cancel_requests = CancelRequests()
leases = LeaseKeeper(get_settings().task_lease_seconds, cancel_requests)
gate = AdmissionGate(slots=get_settings().worker_concurrency)
executor = Executor(leases=leases, cancel_requests=cancel_requests)


async def run_task(task: TaskMessage) -> None:
    """Run the task's handler and commit the outcome before the ack; a failed attempt
    comes back after its backoff, a task out of attempts goes to the dead-letter queue."""
    await _run(task, alone=True)


async def run_task_batch(batch: TaskBatchMessage) -> None:
    """Run each task as `run_task` does, side by side; the message is acked once every
    outcome is committed, and handed back if one could not be (the others are then found
    finished and skipped on redelivery)."""
    outcomes = await asyncio.gather(
        *(_run(task, alone=False) for task in batch.tasks), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def is_task_batch(message: StreamMessage[Any]) -> bool:
    return not message.processed and bool(message.headers.get(constants.HEADER_TASK_BATCH))


# Which queues exist depends on the handlers (each may name its queue).
load_handlers()
for queue_name in consumed_queues():
    for band in Band:
        subscriber = router.subscriber(
            work_queue(queue_name, band),
            work_exchange,
            title=f"run-task:{queue_name}:{band}",
            description=f"Runs the {band}-priority tasks of the {queue_name!r} queue.",
        )
        subscriber(run_task_batch, filter=is_task_batch)
        subscriber(run_task)


async def _run(task: TaskMessage, *, alone: bool) -> None:
    async with gate.slot(band_of(task.priority)):
        try:
            outcome = await executor.execute(task_id=task.id, name=task.name)
        except Exception as error:
            if not database_unavailable(error):
                raise
            await requeue_after_pause(error, what=f"task {task.id}")
    await _forward(task, outcome, alone=alone)


async def _forward(task: TaskMessage, outcome: Outcome, *, alone: bool) -> None:
    """Send the task where the outcome says it goes next."""
    if outcome.verdict is Verdict.RETRY_LATER:
        try:
            await publish_task_later(task, delay_seconds=outcome.delay_seconds)
        except Exception:
            # The task row says when it is due; the relay sends it if this never arrives.
            logger.warning("could not schedule task %s; the relay will", task.id, exc_info=True)
    elif outcome.verdict is Verdict.DEAD:
        try:
            await publish_dead_letter(
                task.model_dump(mode="json"),
                reason=outcome.reason or "failed",
                task_id=str(task.id),
                recorded=outcome.recorded,
            )
        except Exception as error:
            if alone:
                # RabbitMQ then dead-letters the rejected message itself.
                raise RejectMessage() from error
            # Rejecting would dead-letter the other tasks' message too; the task table,
            # which the dead-letter API reads, says this one is dead already.
            logger.warning(
                "task %s is dead; its dead-letter message was not sent: %s", task.id, error
            )
