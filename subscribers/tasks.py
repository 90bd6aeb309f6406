"""The work-queue subscribers: run each task's handler and record the outcome.

One subscriber per priority band of every named queue this worker consumes
(TASKGATE_WORKER_QUEUES, else all); an admission gate decides which waiting message runs next.
"""

import logging

from faststream.exceptions import RejectMessage
from faststream.rabbit import RabbitRouter

from app.handlers.loader import load_handlers
from app.services.admission import AdmissionGate
from app.services.cancel_requests import CancelRequests
from app.services.execution import Executor, Outcome, Verdict
from app.services.leases import LeaseKeeper
from app.services.queues import consumed_queues
from app.settings import get_settings
from db.errors import database_unavailable
from publishers.messages import TaskMessage
from publishers.tasks import publish_dead_letter, publish_task_later
from publishers.topology import Band, band_of, work_exchange, work_queue
from subscribers.outage import requeue_after_pause
from subscribers.poison import PoisonMessageMiddleware

logger = logging.getLogger(__name__)

router = RabbitRouter(middlewares=(PoisonMessageMiddleware,))
cancel_requests = CancelRequests()
leases = LeaseKeeper(get_settings().task_lease_seconds, cancel_requests)
gate = AdmissionGate(slots=get_settings().worker_prefetch)
executor = Executor(leases=leases, cancel_requests=cancel_requests)


async def run_task(task: TaskMessage) -> None:
    """Run the task's handler and commit the outcome before the ack; a failed attempt
    comes back after its backoff, a task out of attempts goes to the dead-letter queue."""
    async with gate.slot(band_of(task.priority)):
        try:
            outcome = await executor.execute(task_id=task.id, name=task.name)
        except Exception as error:
            if not database_unavailable(error):
                raise
            await requeue_after_pause(error, what=f"task {task.id}")
    await _forward(task, outcome)


# Which queues exist depends on the handlers (each may name its queue).
load_handlers()
for queue_name in consumed_queues():
    for band in Band:
        router.subscriber(
            work_queue(queue_name, band),
            work_exchange,
            title=f"run-task:{queue_name}:{band}",
            description=f"Runs the {band}-priority tasks of the {queue_name!r} queue.",
        )(run_task)


async def _forward(task: TaskMessage, outcome: Outcome) -> None:
    """Send the message where the outcome says it goes next."""
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
            # RabbitMQ then dead-letters the rejected message itself; the task is dead already.
            raise RejectMessage() from error
