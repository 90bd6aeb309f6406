"""The named task queues: which exist, and which this worker consumes."""

from app.handlers.registry import registry
from app.services.errors import UnknownQueueError
from app.settings import get_settings
from publishers import constants


def known_queues() -> list[str]:
    """ "default", every queue a handler names, and those listed in TASKGATE_QUEUES."""
    handler_queues = {handler.queue for handler in registry.all()}
    return sorted({constants.DEFAULT_TASK_QUEUE, *handler_queues, *get_settings().extra_queues})


def consumed_queues() -> list[str]:
    """The queues this worker consumes: TASKGATE_WORKER_QUEUES, or every known queue."""
    known = known_queues()
    chosen = get_settings().worker_queues or known
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UnknownQueueError(unknown[0], known)
    return chosen
