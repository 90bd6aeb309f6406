"""The cancel-signal subscriber: stops a running task if this process runs it."""

from faststream.rabbit import RabbitRouter

from publishers.messages import CancelMessage
from publishers.topology import cancel_exchange, cancel_queue
from subscribers.tasks import cancel_requests

router = RabbitRouter()


@router.subscriber(cancel_queue, cancel_exchange, title="stop-task")
async def stop_task(message: CancelMessage) -> None:
    """Every worker process hears every signal; the one running the task stops it."""
    cancel_requests.request(message.id)
