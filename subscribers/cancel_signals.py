"""The cancel-signal subscriber: stops a running task if this process runs it."""

from publishers.messages import CancelMessage
from subscribers.runtime import WorkerDep


async def stop_task(message: CancelMessage, worker: WorkerDep) -> None:
    """Every worker process hears every signal; the one running the task stops it."""
    worker.cancel_requests.request(message.id)
