"""Schedules: recurring tasks by cron or interval.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASKS_BY_SCHEDULE_INDEX = "ix_tasks_tenant_schedule_id_created_at_id"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("cron", sa.Text(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("task_name", sa.Text(), nullable=False),
        sa.Column(
            "task_payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("task_queue", sa.Text(), nullable=True),
        sa.Column("task_priority", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("catch_up", sa.Text(), server_default=sa.text("'once'"), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(cron IS NULL) <> (interval_seconds IS NULL)", name=op.f("ck_schedules_one_timing")
        ),
        sa.CheckConstraint(
            "interval_seconds IS NULL OR interval_seconds > 0",
            name=op.f("ck_schedules_interval_positive"),
        ),
        sa.CheckConstraint(
            "catch_up IN ('none', 'once')", name=op.f("ck_schedules_catch_up_known")
        ),
        sa.CheckConstraint(
            "paused = (next_run_at IS NULL)", name=op.f("ck_schedules_next_run_unless_paused")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(
        "ix_schedules_tenant_created_at_id",
        "schedules",
        ["tenant", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_schedules_due",
        "schedules",
        ["next_run_at"],
        postgresql_where=sa.text("NOT paused"),
    )
    # Tasks keep their schedule's id after it is deleted (their history), so there is no
    # foreign key: just the listing by schedule, partial so that tasks of no schedule cost
    # it nothing. Built without blocking writes to a live table.
    with op.get_context().autocommit_block():
        op.create_index(
            TASKS_BY_SCHEDULE_INDEX,
            "tasks",
            ["tenant", "schedule_id", sa.text("created_at DESC"), sa.text("id DESC")],
            postgresql_where=sa.text("schedule_id IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            TASKS_BY_SCHEDULE_INDEX,
            table_name="tasks",
            postgresql_concurrently=True,
            if_exists=True,
        )
    op.drop_table("schedules")
