"""The task table: the source of truth for every task's state and result."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, MetaData, Text, func, text
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
        Index("ix_tasks_created_at_id", text("created_at DESC"), text("id DESC")),
        Index("ix_tasks_status_created_at_id", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_tasks_name_created_at_id", "name", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_tasks_status_name_created_at_id",
            "status",
            "name",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index("ix_tasks_queue_created_at_id", "queue", text("created_at DESC"), text("id DESC")),
        # Retention sweeps and dead-letter time ranges.
        Index(
            "ix_tasks_status_finished_at",
            "status",
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
    # Idempotency keys are unique per tenant; until there is auth, every task is tenant "".
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
