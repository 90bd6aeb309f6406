"""Domain errors: they know nothing of HTTP or AMQP; `app/api/errors.py` maps them."""

from collections.abc import Mapping, Sequence
from typing import Any


class TaskgateError(Exception):
    """Base of the errors a caller can act on."""


class UnknownHandlerError(TaskgateError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(f"unknown handler {name!r}; known handlers: {', '.join(self.known)}")


class UnknownQueueError(TaskgateError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(
            f"unknown queue {name!r}; known queues: {', '.join(self.known)} (a handler's "
            "queue, or one listed in TASKGATE_QUEUES)"
        )


class QueueNotFoundError(TaskgateError):
    """A named queue that no handler and no TASKGATE_QUEUES entry declares."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        super().__init__(
            f"no queue named {name!r}; known queues: {', '.join(known)} (a handler's queue, "
            "or one listed in TASKGATE_QUEUES)"
        )


class InvalidPayloadError(TaskgateError):
    """The payload does not match the handler's payload type."""

    def __init__(self, handler: str, errors: Sequence[Mapping[str, Any]]) -> None:
        self.handler = handler
        self.errors = list(errors)
        super().__init__(f"payload does not match handler {handler!r}")


class InvalidBatchError(TaskgateError):
    """Some tasks of a batch are invalid: (index, error) for each; none was recorded."""

    def __init__(self, problems: Sequence[tuple[int, TaskgateError]]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} task(s) of the batch are invalid")


class IdempotencyConflictError(TaskgateError):
    """Idempotency keys already used for a different request: (index, key, task id) each."""

    def __init__(self, conflicts: Sequence[tuple[int, str, object]]) -> None:
        self.conflicts = list(conflicts)
        described = "; ".join(
            f"Idempotency-Key {key!r} was already used for a different request (task {task})"
            for _, key, task in self.conflicts
        )
        super().__init__(described)


class ConflictingKeysError(TaskgateError):
    def __init__(self) -> None:
        super().__init__("the Idempotency-Key header and the idempotency_key field differ")


class TaskNotFoundError(TaskgateError):
    def __init__(self, task_id: object) -> None:
        self.task_id = task_id
        super().__init__(f"no task with id {task_id}")


class TaskFinishedError(TaskgateError):
    """The task has finished: there is nothing left to cancel."""

    def __init__(self, task_id: object, status: str) -> None:
        self.task_id = task_id
        self.status = status
        super().__init__(
            f"task {task_id} is {status} already; only a task that has not finished can be "
            "cancelled"
        )


class InvalidCursorError(TaskgateError):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API returned; pass next_cursor unchanged")


class TaskNotDeadError(TaskgateError):
    """The task exists but is not in the dead-letter queue."""

    def __init__(self, task_id: object, status: str) -> None:
        self.task_id = task_id
        self.status = status
        super().__init__(
            f"task {task_id} is {status}, not dead: only dead tasks can be inspected, "
            "replayed or purged from the dead-letter queue"
        )


class NotReplayableError(TaskgateError):
    """The dead letter cannot run again: its handler is gone, or no task stands behind it."""

    def __init__(self, task_id: object, reason: str) -> None:
        self.task_id = task_id
        self.reason = reason
        super().__init__(f"dead letter {task_id} cannot be replayed: {reason}")


class TaskChangedError(TaskgateError):
    """Another request changed the dead task meanwhile (replayed it, and it died again)."""

    def __init__(self, task_id: object, status: str) -> None:
        self.task_id = task_id
        self.status = status
        super().__init__(
            f"task {task_id} was changed by another request while this one ran (it is "
            f"{status} again); read it and retry"
        )


class InvalidFilterError(TaskgateError):
    """A listing filter that cannot match as given (`field` names it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class InvalidFieldError(TaskgateError):
    """A field of the request breaks a limit or a rule the schema cannot say; `location` is
    where it sits in the request, as in a 422's `loc`."""

    def __init__(self, location: Sequence[str | int], message: str) -> None:
        self.location = list(location)
        super().__init__(message)


class NotAuthenticatedError(TaskgateError):
    """No API key, or one that is unknown, malformed or revoked."""


class ForbiddenError(TaskgateError):
    """The key is valid but may not do this."""


class RateLimitedError(TaskgateError):
    """The key made more requests than its rate allows; retry after `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many requests for this API key; retry after {retry_after} s "
            "(RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST)"
        )


class TenantBusyError(TaskgateError):
    """The tenant has as many unfinished tasks as it may; retry once some have finished."""

    retry_after = 5

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"this tenant already has {limit} unfinished tasks, the most it may have "
            "(TENANT_MAX_UNFINISHED); submit again once some have finished"
        )


class KeyNotFoundError(TaskgateError):
    def __init__(self, key_id: object) -> None:
        self.key_id = key_id
        super().__init__(f"no API key with id {key_id}")


class ScheduleNotFoundError(TaskgateError):
    def __init__(self, schedule_id: object) -> None:
        self.schedule_id = schedule_id
        super().__init__(f"no schedule with id {schedule_id}")


class InvalidScheduledTaskError(TaskgateError):
    """The task a schedule would make is invalid, as a submit of it would be; `error` says
    how (its location is within the schedule's `task`)."""

    def __init__(self, error: TaskgateError) -> None:
        self.error = error
        super().__init__(str(error))


class WebhookNotFoundError(TaskgateError):
    def __init__(self, webhook_id: object) -> None:
        self.webhook_id = webhook_id
        super().__init__(f"no webhook with id {webhook_id}")


class TooManyWebhooksError(TaskgateError):
    """The tenant has as many webhooks as it may; one must go before another is made."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"this tenant already has {limit} webhooks, the most it may have; delete one first"
        )
