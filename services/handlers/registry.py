"""The registry of task handlers, keyed by name; `@task_handler` adds one."""

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import TypeAdapter

from config import names
from services.handlers.backoff import DEFAULT_BACKOFF, Backoff
from services.handlers.context import TaskContext

HandlerFunc = Callable[..., Awaitable[Any] | Any]

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class TaskHandler:
    """A named function that runs a task, the type its payload must have, and its retry
    policy."""

    name: str
    func: HandlerFunc
    payload_type: Any
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: Backoff = DEFAULT_BACKOFF
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS
    queue: str = names.DEFAULT_TASK_QUEUE
    wants_context: bool = False
    payload_adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_adapter", TypeAdapter(self.payload_type))

    @property
    def is_async(self) -> bool:
        """Whether the handler runs on the event loop (else in a worker thread)."""
        return inspect.iscoroutinefunction(self.func)

    def parse_payload(self, payload: Any) -> Any:
        """Validate a stored payload into the handler's payload type (raises
        ValidationError)."""
        return self.payload_adapter.validate_python(payload)

    def parse_submitted(self, payload: Any) -> Any:
        """Validate a client's JSON payload as its JSON Schema reads it: strictly (a JSON
        boolean is no number, a number no string), an integral number being an integer
        wherever it is written 2 or 2.0 (raises ValidationError)."""
        text = json.dumps(_integral_numbers(payload))
        return self.payload_adapter.validate_json(text, strict=True)


class HandlerRegistry:
    """Handlers by name; the API validates submits against it, workers run from it."""

    def __init__(self) -> None:
        self._handlers: dict[str, TaskHandler] = {}

    def add(self, handler: TaskHandler) -> None:
        """Register a handler; a second handler with the same name is a mistake."""
        if handler.name in self._handlers:
            raise ValueError(f"a task handler named {handler.name!r} is already registered")
        self._handlers[handler.name] = handler

    def get(self, name: str) -> TaskHandler | None:
        """The handler registered under `name`, if any."""
        return self._handlers.get(name)

    def names(self) -> list[str]:
        """Registered handler names, sorted."""
        return sorted(self._handlers)

    def all(self) -> list[TaskHandler]:
        """Registered handlers, sorted by name."""
        return [self._handlers[name] for name in self.names()]


registry = HandlerRegistry()


def task_handler(
    name: str | None = None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS,
    queue: str = names.DEFAULT_TASK_QUEUE,
    into: HandlerRegistry = registry,
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function as a task handler.

    Its first parameter's annotation is the payload type; an optional second parameter
    annotated `TaskContext` receives the running attempt. The return value, JSON-able, is
    the task's result; an exception fails the attempt (retried up to `max_attempts`), and
    so does running past `timeout_seconds` (None: no limit). Its tasks go to the named
    `queue` unless a submit names another.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if timeout_seconds is not None and timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive (or None for no limit)")
    if not re.fullmatch(names.QUEUE_NAME_PATTERN, queue):
        raise ValueError(f"queue {queue!r} must match {names.QUEUE_NAME_PATTERN}")

    def register(func: HandlerFunc) -> HandlerFunc:
        payload_type, wants_context = _signature(func)
        into.add(
            TaskHandler(
                name=name or func.__name__,
                func=func,
                payload_type=payload_type,
                max_attempts=max_attempts,
                backoff=backoff,
                timeout_seconds=timeout_seconds,
                queue=queue,
                wants_context=wants_context,
            )
        )
        return func

    return register


def _signature(func: HandlerFunc) -> tuple[Any, bool]:
    """(payload type, whether a TaskContext is wanted) from the function's parameters."""
    parameters = list(inspect.signature(func).parameters)
    hints = get_type_hints(func)
    if not 1 <= len(parameters) <= 2:
        raise TypeError(f"task handler {func.__name__} must take (payload[, context])")
    if len(parameters) == 2 and hints.get(parameters[1]) is not TaskContext:
        raise TypeError(f"task handler {func.__name__}: a second parameter must be TaskContext")
    payload_type = hints.get(parameters[0], dict[str, Any])
    return payload_type, len(parameters) == 2


def _integral_numbers(value: Any) -> Any:
    """`value` with every float that is a whole number written as an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_numbers(item) for item in value]
    return value
