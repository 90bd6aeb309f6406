"""Scheduled tasks: a task may wait in PostgreSQL until its run_at.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITH_SCHEDULED = "status IN ('scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead')"
WITHOUT_SCHEDULED = "status IN ('queued', 'running', 'retrying', 'succeeded', 'dead')"


def upgrade() -> None:
    op.add_column("tasks", sa.Column("run_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_tasks_status_known"), "tasks", type_="check")
    op.create_check_constraint(op.f("ck_tasks_status_known"), "tasks", WITH_SCHEDULED)
    op.create_index(
        "ix_tasks_scheduled_run_at",
        "tasks",
        ["run_at"],
        postgresql_where=sa.text("status = 'scheduled'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_scheduled_run_at", table_name="tasks")
    op.execute("UPDATE tasks SET status = 'queued' WHERE status = 'scheduled'")
    op.drop_constraint(op.f("ck_tasks_status_known"), "tasks", type_="check")
    op.create_check_constraint(op.f("ck_tasks_status_known"), "tasks", WITHOUT_SCHEDULED)
    op.drop_column("tasks", "run_at")
