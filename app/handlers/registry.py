"""The registry of task handlers, keyed by name; `@task_handler` adds one."""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

HandlerFunc = Callable[[Any], Awaitable[Any] | Any]


@dataclass(frozen=True)
class TaskHandler:
    """A named function that runs a task, and the type its payload must have."""

    name: str
    func: HandlerFunc
    payload_type: Any
    max_attempts: int = 1
    payload_adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_adapter", TypeAdapter(self.payload_type))

    @property
    def is_async(self) -> bool:
        """Whether the handler runs on the event loop (else in a worker thread)."""
        return inspect.iscoroutinefunction(self.func)

    def parse_payload(self, payload: Any) -> Any:
        """Validate a JSON payload into the handler's payload type (raises ValidationError)."""
        return self.payload_adapter.validate_python(payload)


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


registry = HandlerRegistry()


def task_handler(
    name: str | None = None, *, max_attempts: int = 1
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function as a task handler.

    Its one parameter's annotation is the payload type; the return value, JSON-able, is
    the task's result.
    """

    def register(func: HandlerFunc) -> HandlerFunc:
        parameters = list(inspect.signature(func).parameters.values())
        if len(parameters) != 1:
            raise TypeError(f"task handler {func.__name__} must take exactly one payload argument")
        annotation = parameters[0].annotation
        payload_type = dict[str, Any] if annotation is inspect.Parameter.empty else annotation
        registry.add(
            TaskHandler(
                name=name or func.__name__,
                func=func,
                payload_type=payload_type,
                max_attempts=max_attempts,
            )
        )
        return func

    return register
