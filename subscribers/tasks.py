"""The work-queue subscriber: runs each task's handler and records the outcome."""

import asyncio
import logging

from faststream.exceptions import NackMessage
from faststream.rabbit import RabbitRouter
from sqlalchemy.exc import InterfaceError, OperationalError

from app.services.execution import Verdict, execute_task
from db.session import SessionFactory
from publishers.messages import TaskMessage
from publishers.tasks import publish_dead_letter
from publishers.topology import work_exchange, work_queue
from subscribers.poison import PoisonMessageMiddleware

logger = logging.getLogger(__name__)

# Pause before handing a message back while PostgreSQL is unreachable, so an outage is
# waited out instead of spinning through redeliveries.
DATABASE_DOWN_PAUSE_SECONDS = 2.0

router = RabbitRouter(middlewares=(PoisonMessageMiddleware,))


@router.subscriber(work_queue, work_exchange, title="run-task")
async def run_task(task: TaskMessage) -> None:
    """Run the task's handler, commit the outcome, then ack; dead-letter it when it fails."""
    try:
        async with SessionFactory() as session:
            outcome = await execute_task(session=session, task_id=task.id, name=task.name)
    except (OperationalError, InterfaceError, OSError) as error:
        logger.warning("database unavailable, requeueing task %s: %s", task.id, error)
        await asyncio.sleep(DATABASE_DOWN_PAUSE_SECONDS)
        raise NackMessage(requeue=True) from error
    if outcome.verdict is Verdict.DEAD:
        await publish_dead_letter(
            task.model_dump(mode="json"), reason=outcome.reason or "failed", task_id=str(task.id)
        )
