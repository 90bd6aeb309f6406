"""HTTP request and response bodies."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from config import names
from db.models import Role
from db.tasks.filters import DeadLetterFilter
from db.tasks.reads import Page
from services.handlers.registry import TaskHandler
from services.pagination import encode_cursor
from services.payloads import unstorable
from services.task_resource import AttemptError as AttemptError
from services.task_resource import ProgressOut as ProgressOut
from services.task_resource import TaskOut as TaskOut

T = TypeVar("T")


def _storable(value: str) -> str:
    """Text PostgreSQL can hold: no NUL character, no unpaired surrogate."""
    problem = unstorable(value)
    if problem is not None:
        raise ValueError(problem[1])
    return value


def _in_utc(moment: datetime) -> datetime:
    """The moment in UTC; a time zone that takes it out of the calendar's range is refused
    (0001-01-01T00:00+14:00 is in year 0 in UTC)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


def _integral(value: Any) -> Any:
    """2.0 is the JSON number 2: an integer field takes it (JSON Schema says so)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_ISO_MOMENT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _iso_moment(value: Any) -> datetime:
    """A time from a client: an ISO 8601 (RFC 3339) string with a zone, nothing else (not
    a number of seconds, which the parser would otherwise take)."""
    if not isinstance(value, str) or not re.match(r"\d{4}-\d{2}-\d{2}[Tt ]", value):
        raise ValueError("give the time as an ISO 8601 string with a time zone")
    return _in_utc(_ISO_MOMENT.validate_python(value))


# Text from a client: as the schema says (no NUL), and checked for what a schema cannot say.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL), AfterValidator(_storable)]
# A moment with a time zone, written in ISO 8601, held in UTC.
Moment = Annotated[datetime, BeforeValidator(_iso_moment)]
IdempotencyKey = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
FilterText = Annotated[Text, StringConstraints(min_length=1, max_length=200)]


# JSON bodies are read strictly (a JSON boolean is no number, a number no string), as their
# schema says; these two are what strict mode needs told.
def json_int(low: int, high: int) -> Any:
    """An integer from `low` to `high` in a JSON body (2.0 included, true not)."""
    return Annotated[Annotated[int, Field(ge=low, le=high)], BeforeValidator(_integral)]


# What a JSON body's model is read with: as its schema says, and no more.
STRICT_BODY = ConfigDict(extra="forbid", strict=True)

# MAX_ATTEMPTS_LIMIT and MAX_BATCH_SIZE are settings: the submitter checks them (and the
# OpenAPI document says them); these bounds only keep absurd inputs from being parsed.
PARSE_MAX_ATTEMPTS = 1_000_000
PARSE_MAX_BATCH = 10_000
MAX_DELAY_SECONDS = 365 * 24 * 3600


class TaskSubmit(BaseModel):
    """A task to run: which handler, with what input."""

    model_config = ConfigDict(
        **STRICT_BODY,
        json_schema_extra={"examples": [{"name": "echo", "payload": {"hello": "world"}}]},
    )

    name: str = Field(
        default="emulate", min_length=1, max_length=200, description="A registered handler."
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="The handler's input.")
    max_attempts: json_int(1, PARSE_MAX_ATTEMPTS) | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Attempts before the task is dead-lettered (default: the handler's).",
    )
    queue: str | None = Field(
        default=None,
        pattern=names.QUEUE_NAME_PATTERN,
        description="The named queue to run from (default: the handler's).",
    )
    priority: json_int(names.MIN_PRIORITY, names.MAX_PRIORITY) = Field(  # type: ignore[valid-type]
        default=names.DEFAULT_PRIORITY,
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
    run_at: Moment | None = Field(
        default=None, description="Start no sooner than this time (ISO 8601 with a zone)."
    )
    idempotency_key: IdempotencyKey | None = Field(
        default=None,
        description=(
            "A repeat with the same key and body returns the first task (200); the same key "
            "with another body is a 409. The Idempotency-Key header does the same."
        ),
    )
    concurrency_key: IdempotencyKey | None = Field(
        default=None,
        description=(
            "Tasks sharing a key (say, a customer's id) share their queue's "
            "key_concurrency_limit: one key's backlog cannot starve the others."
        ),
    )

    @model_validator(mode="after")
    def one_schedule(self) -> "TaskSubmit":
        if self.delay_seconds is not None and self.run_at is not None:
            raise ValueError("give delay_seconds or run_at, not both")
        return self


class BatchSubmit(BaseModel):
    """Up to 1,000 tasks, recorded all together or not at all."""

    model_config = STRICT_BODY

    tasks: list[TaskSubmit] = Field(min_length=1, max_length=PARSE_MAX_BATCH)


class DeadTaskOut(TaskOut):
    """A dead task, with the traceback of its last attempt."""

    traceback: str | None


TaskOutT = TypeVar("TaskOutT", bound=TaskOut)


class BatchItemOut(TaskOut):
    """One item of a batch: its task, and whether the item made it."""

    created: bool = Field(
        description="true: this item made a new task; false: its idempotency key stands for "
        "a task made before (by an earlier request or an earlier item), which is returned."
    )


class BatchOut(BaseModel):
    """The recorded tasks, in the order they were submitted."""

    items: list[BatchItemOut]


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

    name: list[FilterText] = Field(
        default_factory=list,
        max_length=20,
        description="Only tasks of these handlers (repeatable).",
    )
    error: Text | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Only tasks whose error contains this, ignoring case (`%` and `_` are "
        "literal).",
    )
    died_after: Moment | None = Field(
        default=None, description="Only tasks that died after this time (ISO 8601 with a zone)."
    )
    died_before: Moment | None = Field(
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
        default=False,
        description="Without any other filter, select every dead task (without `all`, at "
        "least one filter is required: 422); with filters, they select as usual.",
    )

    @model_validator(mode="after")
    def explicit_selection(self) -> "DeadLetterSelection":
        empty = self.to_filter(frozenset(self.tenant) or None).is_empty
        if empty and not self.all:
            raise ValueError(
                "give at least one filter (name, error, died_after, died_before), or all=true "
                "to select every dead task"
            )
        return self


MAX_BULK_REPLAY = 10_000


class BulkReplay(BaseModel):
    """Dead tasks to replay: a filter (or `all`), and how many at most."""

    model_config = ConfigDict(
        **STRICT_BODY,
        json_schema_extra={
            "examples": [{"name": ["resize"], "error": "timeout", "limit": 100}],
            # At least one filter, or all=true.
            "anyOf": [
                {"properties": {"all": {"const": True}}, "required": ["all"]},
                {"properties": {"tenant": {"minItems": 1}}, "required": ["tenant"]},
                {"properties": {"name": {"minItems": 1}}, "required": ["name"]},
                {"properties": {"error": {"type": "string"}}, "required": ["error"]},
                {"properties": {"died_after": {"type": "string"}}, "required": ["died_after"]},
                {"properties": {"died_before": {"type": "string"}}, "required": ["died_before"]},
            ],
        },
    )

    tenant: list[TenantName] = Field(
        default_factory=list,
        max_length=20,
        description="Only tasks of these tenants (an operator key's filter).",
    )
    name: list[FilterText] = Field(
        default_factory=list, max_length=20, description="Only tasks of these handlers."
    )
    error: Text | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Only tasks whose error contains this, ignoring case.",
    )
    died_after: Moment | None = Field(
        default=None, description="Only tasks that died after this time (ISO 8601 with a zone)."
    )
    died_before: Moment | None = Field(
        default=None, description="Only tasks that died before this time (ISO 8601 with a zone)."
    )
    all: bool = Field(
        default=False, description="Without any other filter, every dead task (else required)."
    )
    limit: json_int(1, MAX_BULK_REPLAY) = Field(  # type: ignore[valid-type]
        description="Replay at most this many (1..10,000)."
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

    @model_validator(mode="after")
    def explicit_selection(self) -> "BulkReplay":
        if self.to_filter(frozenset(self.tenant) or None).is_empty and not self.all:
            raise ValueError(
                "give at least one filter (tenant, name, error, died_after, died_before), or "
                "all=true to select every dead task"
            )
        return self


class ReplayRequest(BaseModel):
    """How to replay a dead task: as it was, or with an edited payload."""

    model_config = STRICT_BODY

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
        **STRICT_BODY,
        json_schema_extra={"examples": [{"tenant": "acme", "role": "write", "name": "ci"}]},
    )

    tenant: TenantName | None = Field(
        default=None, description="The key's tenant (default: the creating key's own)."
    )
    # Strict mode wants an Enum member: the JSON string is the value, checked as usual.
    role: Role = Field(default=Role.READ, strict=False, description="read, write or admin.")
    all_tenants: bool = Field(
        default=False, description="An operator's key, seeing every tenant (operators only)."
    )
    name: Text = Field(default="", max_length=200, description="A label, to tell keys apart.")


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
