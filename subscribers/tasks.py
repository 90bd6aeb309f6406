"""The work-queue subscriber: runs each task's handler and records the outcome."""

import logging

from faststream.exceptions import RejectMessage
from faststream.rabbit import RabbitRouter

from app.services.execution import Outcome, Verdict, execute_task
from app.services.leases import LeaseKeeper
from app.settings import get_settings
from db.errors import database_unavailable
from db.session import SessionFactory
from publishers.messages import TaskMessage
from publishers.tasks import publish_dead_letter, publish_task_later
from publishers.topology import work_exchange, work_queue
from subscribers.outage import requeue_after_pause
from subscribers.poison import PoisonMessageMiddleware

logger = logging.getLogger(__name__)

router = RabbitRouter(middlewares=(PoisonMessageMiddleware,))
leases = LeaseKeeper(get_settings().task_lease_seconds)


@router.subscriber(work_queue, work_exchange, title="run-task")
async def run_task(task: TaskMessage) -> None:
    """Run the task's handler and commit the outcome before the ack; a failed attempt
    comes back after its backoff, a task out of attempts goes to the dead-letter queue."""
    try:
        async with SessionFactory() as session:
            outcome = await execute_task(
                session=session, task_id=task.id, name=task.name, leases=leases
            )
    except Exception as error:
        if not database_unavailable(error):
            raise
        await requeue_after_pause(error, what=f"task {task.id}")
    await _forward(task, outcome)


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
