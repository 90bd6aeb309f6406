"""A task as the API shows it (GET /api/v1/result/{id}), and as webhook deliveries carry it:
one model for both, so the two never differ."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from db.models import Task, TaskStatus


class AttemptError(BaseModel):
    """One failed attempt."""

    attempt: int
    error: str
    started_at: datetime | None = None
    failed_at: datetime | None = None
    retry_in: float | None = Field(
        default=None, description="Seconds waited before the next attempt (none: gave up)."
    )


class ProgressOut(BaseModel):
    """How far a running task's handler says it is."""

    fraction: float = Field(ge=0, le=1, description="0 to 1.")
    message: str | None = None
    updated_at: datetime


class TaskOut(BaseModel):
    """A task's state, result or error."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant: str = Field(description="The tenant of the key that submitted it.")
    name: str
    queue: str
    priority: int
    status: TaskStatus
    payload: dict[str, Any]
    result: Any | None
    error: str | None
    attempts: int
    max_attempts: int
    errors: list[AttemptError] = Field(description="Every failed attempt, oldest first.")
    replays: int = Field(description="Times the task was replayed from the dead-letter queue.")
    run_at: datetime | None = Field(description="When a delayed task may start.")
    cancel_requested_at: datetime | None = Field(
        description="When a client asked to cancel the task while it ran."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    concurrency_key: str | None = Field(
        default=None, description="The key whose key_concurrency_limit the task counts toward."
    )
    held_reason: str | None = Field(
        default=None,
        description=(
            "Why a queued task waits unsent: its queue is paused, or at a limit "
            "(concurrency_limit, key_concurrency_limit, rate_limit_per_second)."
        ),
    )
    schedule_id: UUID | None = Field(default=None, description="The schedule that made it.")
    progress: ProgressOut | None = Field(
        default=None, description="What its handler last reported of its progress."
    )


def task_resource(task: Task | Mapping[str, Any]) -> dict[str, Any]:
    """The task's JSON as GET /api/v1/result/{id} answers it: of a row, or of the jsonb copy
    of a row a webhook delivery keeps."""
    if isinstance(task, Mapping):
        task = _times_in_utc(task)
    return TaskOut.model_validate(task).model_dump(mode="json")


def _times_in_utc(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's times (`*_at`) as the driver gives them, in UTC: PostgreSQL wrote the copy's in
    the session's time zone."""
    return {
        column: datetime.fromisoformat(value).astimezone(UTC)
        if column.endswith("_at") and isinstance(value, str)
        else value
        for column, value in row.items()
    }
