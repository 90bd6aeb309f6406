"""The task table: the source of truth for every task's state and result."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
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


class TenantLoad(Base):
    """How many unfinished tasks a tenant has, kept by triggers on the tasks table."""

    __tablename__ = "tenant_load"

    tenant: Mapped[str] = mapped_column(Text, primary_key=True)
    unfinished: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
