"""The task table: the source of truth for every task's state and result."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class TaskStatus(enum.StrEnum):
    """Where a task is in its lifecycle."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.DEAD, TaskStatus.CANCELLED})
# Waiting for a worker: a claim takes these (and a running task whose lease lapsed).
WAITING_STATUSES = (TaskStatus.QUEUED, TaskStatus.RETRYING)
# Not finished: a cancel ends these at once (a running task is asked to stop instead).
CANCELLABLE_AT_ONCE = (TaskStatus.SCHEDULED, *WAITING_STATUSES)


# Listing indexes by name suffix: the columns after the tenant, before (created_at, id).
LISTING_INDEX_COLUMNS: dict[str, tuple[str, ...]] = {
    "created_at_id": (),
    "status_created_at_id": ("status",),
    "name_created_at_id": ("name",),
    "status_name_created_at_id": ("status", "name"),
    "queue_created_at_id": ("queue",),
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Task(Base):
    """One submitted task, its state, its result or its error."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead', "
            "'cancelled')",
            name="status_known",
        ),
        # The listings: every one reads one index in page order, the tenant in front.
        *(
            Index(
                f"ix_tasks_tenant_{suffix}",
                "tenant",
                *columns,
                text("created_at DESC"),
                text("id DESC"),
            )
            for suffix, columns in LISTING_INDEX_COLUMNS.items()
        ),
        # Retention sweeps and dead-letter time ranges.
        Index(
            "ix_tasks_status_finished_at",
            "status",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
        # The dashboard: each tenant's finished tasks, newest first (migration 0008).
        Index(
            "ix_tasks_tenant_finished_at",
            "tenant",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
        Index(
            "ix_tasks_unpublished",
            "created_at",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index(
            "uq_tasks_tenant_idempotency_key",
            "tenant",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index(
            "ix_tasks_scheduled_run_at",
            "run_at",
            postgresql_where=text("status = 'scheduled'"),
        ),
        Index(
            "ix_tasks_running_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'running'"),
        ),
        Index(
            "ix_tasks_retry_due",
            "due_at",
            postgresql_where=text("status = 'retrying'"),
        ),
        # Tasks a queue control holds back, for the release (migration 0009).
        Index(
            "ix_tasks_held",
            "tenant",
            "queue",
            "created_at",
            postgresql_where=text("held_at IS NOT NULL"),
        ),
        Index(
            "ix_tasks_held_key",
            "tenant",
            "queue",
            "concurrency_key",
            "created_at",
            postgresql_where=text("held_at IS NOT NULL"),
        ),
        # The tasks a schedule made, newest first (migration 0010): partial, so tasks of no
        # schedule cost it nothing.
        Index(
            "ix_tasks_tenant_schedule_id_created_at_id",
            "tenant",
            "schedule_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("schedule_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text, server_default=text("'default'"))
    priority: Mapped[int] = mapped_column(server_default=text("5"))
    status: Mapped[str] = mapped_column(Text, default=TaskStatus.QUEUED)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(server_default=text("3"))
    # One entry per failed attempt: {attempt, started_at, failed_at, error, retry_in}.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # When the task may start (given by the client); until then it is `scheduled`.
    run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # NULL until the broker confirmed the task's message: the outbox relay's work list.
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While running: the worker holding the task renews this; once past, another may take over.
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The tenant of the key that submitted it ("" with auth off, and for records of messages
    # no task stands behind); idempotency keys are unique per tenant.
    tenant: Mapped[str] = mapped_column(Text, server_default=text("''"))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    # What the key was first used for: a repeat must be the same request.
    request_hash: Mapped[str | None] = mapped_column(Text)
    # While retrying: the latest the delayed message is due back; the relay republishes it
    # once this is past (a delayed message lost by the broker is never a lost task).
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when a client asks to cancel a running task: its worker stops it at the signal, or
    # at its next lease renewal if the signal went astray.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Times the task was replayed from the dead-letter queue (each replay restarts attempts).
    replays: Mapped[int] = mapped_column(server_default=text("0"))
    # Tasks sharing a key share its queue's key_concurrency_limit (say, one customer's).
    concurrency_key: Mapped[str | None] = mapped_column(Text)
    # A queued task a queue control holds back (paused, a limit), and since when: it has
    # no message in the broker until the control lets it go (services/queue_controls.py).
    held_reason: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The schedule whose tick made the task.
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # What the handler last said of its progress: {"fraction", "message", "updated_at"}.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Role(enum.StrEnum):
    """What an API key may do; each role may do what the ones before it may."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class ApiKey(Base):
    """An API key: only a hash of its secret is kept."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('read', 'write', 'admin')", name="role_known"),
        UniqueConstraint("prefix"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Shown in the key itself, to find its row; the secret part is only hashed.
    prefix: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(Text)
    tenant: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    # An operator's key: sees and acts on every tenant's tasks.
    all_tenants: Mapped[bool] = mapped_column(server_default=text("false"))
    name: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateBucket(Base):
    """The token bucket of one key, shared by every API process (README: Limits)."""

    __tablename__ = "rate_buckets"

    key_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tokens: Mapped[float]
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueSettings(Base):
    """A tenant's controls over one named queue, enforced by every worker."""

    __tablename__ = "queue_settings"
    __table_args__ = (
        CheckConstraint(
            "concurrency_limit IS NULL OR concurrency_limit > 0", name="concurrency_limit_positive"
        ),
        CheckConstraint(
            "key_concurrency_limit IS NULL OR key_concurrency_limit > 0",
            name="key_concurrency_limit_positive",
        ),
        CheckConstraint(
            "rate_limit_per_second IS NULL OR rate_limit_per_second > 0",
            name="rate_limit_positive",
        ),
    )

    tenant: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    paused: Mapped[bool] = mapped_column(server_default=text("false"))
    # Tasks of the queue running at once, across every worker (None: no limit).
    concurrency_limit: Mapped[int | None]
    # Tasks of one concurrency key running at once.
    key_concurrency_limit: Mapped[int | None]
    # Task starts per second, across every worker: a token bucket of one second's starts.
    rate_limit_per_second: Mapped[float | None]
    tokens: Mapped[float] = mapped_column(server_default=text("0"))
    tokens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CatchUp(enum.StrEnum):
    """What a schedule does with the ticks it missed while nothing ran."""

    # Skip them: the next task is the next tick's.
    NONE = "none"
    # One task, for the most recent of them.
    ONCE = "once"


class Schedule(Base):
    """A tenant's recurring task: made at every tick of a cron expression (in a time zone)
    or of an interval."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("(cron IS NULL) <> (interval_seconds IS NULL)", name="one_timing"),
        CheckConstraint(
            "interval_seconds IS NULL OR interval_seconds > 0", name="interval_positive"
        ),
        CheckConstraint("catch_up IN ('none', 'once')", name="catch_up_known"),
        # A paused schedule has no next run; resuming gives it one.
        CheckConstraint("paused = (next_run_at IS NULL)", name="next_run_unless_paused"),
        Index(
            "ix_schedules_tenant_created_at_id",
            "tenant",
            text("created_at DESC"),
            text("id DESC"),
        ),
        # The scheduler's work list.
        Index("ix_schedules_due", "next_run_at", postgresql_where=text("NOT paused")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    # Exactly one of these: a five-field cron expression, or seconds between ticks.
    cron: Mapped[str | None] = mapped_column(Text)
    interval_seconds: Mapped[int | None]
    # The IANA time zone the cron expression is read in.
    timezone: Mapped[str] = mapped_column(Text, server_default=text("'UTC'"))
    # The task each tick makes (validated as a submit is; a null queue: the handler's).
    task_name: Mapped[str] = mapped_column(Text)
    task_payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    task_queue: Mapped[str | None] = mapped_column(Text)
    task_priority: Mapped[int] = mapped_column(server_default=text("5"))
    paused: Mapped[bool] = mapped_column(server_default=text("false"))
    catch_up: Mapped[str] = mapped_column(Text, server_default=text("'once'"))
    # The next tick (UTC); NULL while paused.
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When it last made a task (a tick, or a trigger).
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantLoad(Base):
    """How many unfinished tasks a tenant has, kept by triggers on the tasks table."""

    __tablename__ = "tenant_load"

    tenant: Mapped[str] = mapped_column(Text, primary_key=True)
    unfinished: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class WebhookEvent(enum.StrEnum):
    """What a webhook may be told of: a task reaching one of these states."""

    SUCCEEDED = "task.succeeded"
    DEAD = "task.dead"
    CANCELLED = "task.cancelled"


class DeliveryStatus(enum.StrEnum):
    """Where one event's delivery to one webhook is."""

    # Not tried yet; tried and failed, to be tried again at next_attempt_at.
    PENDING = "pending"
    FAILING = "failing"
    DELIVERED = "delivered"
    # Failed until WEBHOOK_GIVE_UP_SECONDS after the event: not tried again.
    GIVEN_UP = "given_up"


class Webhook(Base):
    """A tenant's endpoint for task events (migration 0011)."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_tenant_created_at", "tenant", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # Kept as it is, not hashed: every delivery is signed with it.
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """One event for one webhook: written by a trigger on the tasks table in the very
    transaction that changed the task, sent (and retried) by every process's sender."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'failing', 'delivered', 'given_up')", name="status_known"
        ),
        # The senders' work list: partial, so delivered ones leave it.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'failing')"),
        ),
        # The finished ones by age, for their deletion (services/webhooks/pruning.py).
        Index(
            "ix_webhook_deliveries_finished",
            "occurred_at",
            postgresql_where=text("status IN ('delivered', 'given_up')"),
        ),
        Index(
            "ix_webhook_deliveries_webhook_id_occurred_at_id",
            "webhook_id",
            text("occurred_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhooks.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(Text)
    # The same for every webhook told of the event, and on every retry (Taskgate-Event-Id).
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # The task's row as the event left it (less its traceback): what the body shows, even
    # once the task has moved on or been deleted.
    task: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    # Attempts started (a claim counts one).
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # NULL once delivered or given up; while an attempt runs, when it may be taken over.
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryAttempt(Base):
    """One try at a delivery: the receiver's status code, or why there was none."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (
        Index(
            "ix_webhook_delivery_attempts_delivery_id_attempted_at",
            "delivery_id",
            "attempted_at",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    status_code: Mapped[int | None]
    latency_ms: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
