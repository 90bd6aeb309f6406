"""Message contracts: what travels over RabbitMQ."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from config import names


class TaskOrigin(BaseModel):
    """Where a task came from, for the worker's traces and log lines: never used to decide
    anything. Signed with the rest of the message; messages without it stay valid."""

    traceparent: str | None = Field(
        default=None,
        max_length=names.ORIGIN_FIELD_MAX_CHARS,
        description="W3C traceparent of the request that submitted the task (tracing on).",
    )
    request_id: str | None = Field(
        default=None,
        max_length=names.ORIGIN_FIELD_MAX_CHARS,
        description="Correlation id of that request (its X-Request-ID).",
    )
    tenant: str | None = Field(
        default=None, max_length=names.ORIGIN_FIELD_MAX_CHARS, description="The task's tenant."
    )


class TaskMessage(BaseModel):
    """A task to run: published by the API, consumed by the workers."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID = Field(description="The task's id; its row in PostgreSQL holds its state.")
    name: str = Field(description="The registered handler that runs the task.")
    payload: dict[str, Any] = Field(default_factory=dict, description="The handler's input.")
    queue: str = Field(
        default=names.DEFAULT_TASK_QUEUE, description="The named queue the task runs from."
    )
    priority: int = Field(
        default=names.DEFAULT_PRIORITY,
        ge=names.MIN_PRIORITY,
        le=names.MAX_PRIORITY,
        description="0-9; a higher priority starts first.",
    )
    origin: TaskOrigin | None = Field(
        default=None, description="The submitting request, for traces and logs (optional)."
    )


class TaskBatchMessage(BaseModel):
    """Tasks of one named queue and priority band, published together: each is run and
    recorded on its own; the message is acked once every one of them is."""

    tasks: list[TaskMessage] = Field(
        min_length=1, max_length=names.TASK_BATCH_LIMIT, description="The tasks to run."
    )


class CancelMessage(BaseModel):
    """A client asked to cancel a running task."""

    id: UUID = Field(description="The task to stop, wherever it runs.")
