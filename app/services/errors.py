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


class InvalidCursorError(TaskgateError):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API returned; pass next_cursor unchanged")


class InvalidFilterError(TaskgateError):
    """A listing filter that cannot match as given (`field` names it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)
