"""HTTP request and response bodies."""

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from config import names
from db.models import Role, TaskStatus
from db.tasks.filters import DeadLetterFilter
from db.tasks.reads import Page
from services.handlers.registry import TaskHandler
from services.pagination import encode_cursor

T = TypeVar("T")

IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]

MAX_ATTEMPTS_LIMIT = 100
MAX_DELAY_SECONDS = 365 * 24 * 3600


class TaskSubmit(BaseModel):
    """A task to run: which handler, with what input."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "echo", "payload": {"hello": "world"}}]},
    )

    name: str = Field(
        default="emulate", min_length=1, max_length=200, description="A registered handler."
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="The handler's input.")
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ATTEMPTS_LIMIT,
        description="Attempts before the task is dead-lettered (default: the handler's).",
    )
    queue: str | None = Field(
        default=None,
        pattern=names.QUEUE_NAME_PATTERN,
        description="The named queue to run from (default: the handler's).",
    )
    priority: int = Field(
        default=names.DEFAULT_PRIORITY,
        ge=names.MIN_PRIORITY,
        le=names.MAX_PRIORITY,
        description=(
            "0-9, higher first. Bands: 7-9 high, 3-6 normal, 0-2 low; within a band, first "
            "in, first out."
        ),
    )
    delay_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DELAY_SECONDS,
        description="Start no sooner than this many seconds from now (at most 365 days).",
    )
    run_at: AwareDatetime | None = Field(
        default=None, description="Start no sooner than this time (ISO 8601 with a zone)."
    )
    idempotency_key: IdempotencyKey | None = Field(
        default=None,
        description=(
            "A repeat with the same key and body returns the first task (200); the same key "
            "with another body is a 409. The Idempotency-Key header does the same."
        ),
    )

    @model_validator(mode="after")
    def one_schedule(self) -> "TaskSubmit":
        if self.delay_seconds is not None and self.run_at is not None:
            raise ValueError("give delay_seconds or run_at, not both")
        return self


MAX_BATCH_SIZE = 1000


class BatchSubmit(BaseModel):
    """Up to 1,000 tasks, recorded all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskSubmit] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


class AttemptError(BaseModel):
    """One failed attempt."""

    attempt: int
    error: str
    started_at: datetime | None = None
    failed_at: datetime | None = None
    retry_in: float | None = Field(
        default=None, description="Seconds waited before the next attempt (none: gave up)."
    )


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


class DeadTaskOut(TaskOut):
    """A dead task, with the traceback of its last attempt."""

    traceback: str | None


TaskOutT = TypeVar("TaskOutT", bound=TaskOut)


class BatchOut(BaseModel):
    """The recorded tasks, in the order they were submitted."""

    items: list[TaskOut]


class PageOut(BaseModel, Generic[T]):
    """One page of a list, newest first; pass `next_cursor` as `cursor` for the next."""

    items: list[T]
    next_cursor: str | None


def page_out(page: Page[Any], item: type[TaskOutT]) -> PageOut[TaskOutT]:
    """The HTTP form of a page of tasks."""
    return PageOut[item](  # type: ignore[valid-type]
        items=[item.model_validate(task) for task in page.items],
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
    )


TenantName = Annotated[str, StringConstraints(max_length=63, pattern=names.TENANT_NAME_PATTERN)]
TenantFilter = Annotated[
    list[TenantName] | None,
    Query(
        max_length=20,
        description="Only tasks of these tenants (repeatable); an operator key's filter, a "
        "tenant's key sees its own tenant only.",
    ),
]


class DeadLetterFilters(BaseModel):
    """Which dead tasks: every filter given must match."""

    tenant: list[TenantName] = Field(
        default_factory=list,
        max_length=20,
        description="Only tasks of these tenants (repeatable; an operator key's filter).",
    )

    name: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, description="Only tasks of these handlers (repeatable)."
    )
    error: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Only tasks whose error contains this, ignoring case (`%` and `_` are "
        "literal).",
    )
    died_after: AwareDatetime | None = Field(
        default=None, description="Only tasks that died after this time (ISO 8601 with a zone)."
    )
    died_before: AwareDatetime | None = Field(
        default=None, description="Only tasks that died before this time (ISO 8601 with a zone)."
    )

    def to_filter(self, tenants: frozenset[str] | None = None) -> DeadLetterFilter:
        """The filter, for `tenants` (None: every tenant's dead tasks)."""
        return DeadLetterFilter(
            tenants=tenants,
            names=tuple(self.name),
            error=self.error,
            died_after=self.died_after,
            died_before=self.died_before,
        )


class DeadLetterSelection(DeadLetterFilters):
    """Dead tasks to act on in bulk: at least one filter, or `all` to mean every one."""

    model_config = ConfigDict(extra="forbid")

    all: bool = Field(
        default=False, description="Select every dead task (only when no filter is given)."
    )

    @model_validator(mode="after")
    def explicit_selection(self) -> "DeadLetterSelection":
        empty = self.to_filter().is_empty
        if empty and not self.all:
            raise ValueError(
                "give at least one filter (name, error, died_after, died_before), or all=true "
                "to select every dead task"
            )
        if not empty and self.all:
            raise ValueError("all=true selects every dead task: give it without filters")
        return self


MAX_BULK_REPLAY = 10_000


class BulkReplay(DeadLetterSelection):
    """Dead tasks to replay: a filter (or `all`), and how many at most."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": ["resize"], "error": "timeout", "limit": 100}]},
    )

    limit: int = Field(
        ge=1, le=MAX_BULK_REPLAY, description="Replay at most this many (1..10,000)."
    )


class ReplayRequest(BaseModel):
    """How to replay a dead task: as it was, or with an edited payload."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = Field(
        default=None, description="Run with this payload instead (validated like a submit)."
    )


# A bulk replay lists the ids it replayed when there are at most this many.
MAX_LISTED_IDS = 100


class BulkReplayOut(BaseModel):
    replayed: int = Field(description="Dead tasks queued again.")
    ids: list[UUID] | None = Field(
        description=f"Their ids, when there are at most {MAX_LISTED_IDS}."
    )
    skipped: int = Field(
        description="Matching dead letters that cannot run (an unreadable message, a handler "
        "that no longer exists, a payload that no longer fits): inspect them one by one."
    )


class PurgeOut(BaseModel):
    deleted: int = Field(description="Dead tasks deleted.")


class BackoffOut(BaseModel):
    base: float = Field(description="Seconds before the first retry, before jitter.")
    factor: float = Field(description="Multiplier from one retry's wait to the next.")
    maximum: float = Field(description="Longest wait between attempts, in seconds.")
    jitter: float = Field(description="Each wait is scaled by a random factor in [1-jitter, 1].")


class HandlerOut(BaseModel):
    """A handler tasks can name."""

    name: str
    queue: str = Field(description="The named queue its tasks go to unless a submit says.")
    max_attempts: int
    timeout_seconds: float | None = Field(description="Per attempt; null: no limit.")
    backoff: BackoffOut
    payload_schema: dict[str, Any] = Field(description="JSON Schema of the payload.")

    @classmethod
    def from_handler(cls, handler: TaskHandler) -> "HandlerOut":
        return cls(
            name=handler.name,
            queue=handler.queue,
            max_attempts=handler.max_attempts,
            timeout_seconds=handler.timeout_seconds,
            backoff=BackoffOut.model_validate(handler.backoff, from_attributes=True),
            payload_schema=handler.payload_adapter.json_schema(),
        )


class BandOut(BaseModel):
    """One priority band of a named queue, as RabbitMQ sees it now."""

    band: str
    ready: int = Field(description="Messages waiting for a worker.")
    consumers: int = Field(description="Worker consumers attached.")


class QueueStatsOut(BaseModel):
    """A named queue: the broker's view, and its tasks by status."""

    name: str
    ready: int = Field(description="Messages waiting for a worker, all bands.")
    consumers: int = Field(description="Worker consumers, all bands.")
    bands: list[BandOut] | None = Field(description="Null when RabbitMQ did not answer.")
    tasks: dict[str, int] = Field(description="Tasks of this queue by status (every status).")


class QueuesOut(BaseModel):
    queues: list[QueueStatsOut]


class HealthOut(BaseModel):
    status: str


class ReadinessOut(BaseModel):
    status: str
    database: bool
    broker: bool


class KeyCreate(BaseModel):
    """A new API key: for which tenant, with which role."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tenant": "acme", "role": "write", "name": "ci"}]},
    )

    tenant: TenantName | None = Field(
        default=None, description="The key's tenant (default: the creating key's own)."
    )
    role: Role = Field(default=Role.READ, description="read, write or admin.")
    all_tenants: bool = Field(
        default=False, description="An operator's key, seeing every tenant (operators only)."
    )
    name: str = Field(default="", max_length=200, description="A label, to tell keys apart.")


class KeyOut(BaseModel):
    """An API key, without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    prefix: str = Field(description="The key's first part (`tg_<prefix>_…`), to recognise it.")
    tenant: str
    role: Role
    all_tenants: bool
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A key just made: `key` is its secret, shown this once and never again."""

    key: str = Field(description="Send it as `Authorization: Bearer <key>`.")
