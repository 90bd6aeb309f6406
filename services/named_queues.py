"""The named task queues: which exist, and which a worker consumes."""

from config import names
from config.settings import Settings
from services.errors import UnknownQueueError
from services.handlers.registry import registry


def known_queues(settings: Settings) -> list[str]:
    """ "default", every queue a handler names, and those listed in TASKGATE_QUEUES."""
    handler_queues = {handler.queue for handler in registry.all()}
    return sorted({names.DEFAULT_TASK_QUEUE, *handler_queues, *settings.extra_queues})


def consumed_queues(settings: Settings) -> list[str]:
    """The queues a worker consumes: TASKGATE_WORKER_QUEUES, or every known queue."""
    known = known_queues(settings)
    chosen = settings.worker_queues or known
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UnknownQueueError(unknown[0], known)
    return chosen
