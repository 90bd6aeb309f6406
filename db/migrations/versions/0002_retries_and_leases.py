"""Retries, attempt history and worker leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tasks", sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False)
    )
    op.add_column(
        "tasks",
        sa.Column(
            "errors", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
    )
    op.add_column("tasks", sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
    op.add_column("tasks", sa.Column("due_at", sa.DateTime(timezone=True)))
    op.drop_constraint(op.f("ck_tasks_status_known"), "tasks", type_="check")
    op.create_check_constraint(
        op.f("ck_tasks_status_known"),
        "tasks",
        "status IN ('queued', 'running', 'retrying', 'succeeded', 'dead')",
    )
    op.create_index(
        "ix_tasks_running_lease",
        "tasks",
        ["lease_expires_at"],
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_tasks_retry_due",
        "tasks",
        ["due_at"],
        postgresql_where=sa.text("status = 'retrying'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_retry_due", table_name="tasks")
    op.drop_index("ix_tasks_running_lease", table_name="tasks")
    op.execute("UPDATE tasks SET status = 'queued' WHERE status = 'retrying'")
    op.drop_constraint(op.f("ck_tasks_status_known"), "tasks", type_="check")
    op.create_check_constraint(
        op.f("ck_tasks_status_known"), "tasks", "status IN ('queued', 'running', 'succeeded', 'dead')"
    )
    op.drop_column("tasks", "due_at")
    op.drop_column("tasks", "lease_expires_at")
    op.drop_column("tasks", "errors")
    op.drop_column("tasks", "max_attempts")
