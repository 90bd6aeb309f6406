"""Named queues and priorities, cancellation, replays, and a NOTIFY when a task finishes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITH_CANCELLED = (
    "status IN ('scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled')"
)
WITHOUT_CANCELLED = (
    "status IN ('scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead')"
)

# One notification per task reaching a terminal state, whatever wrote it: long-polling
# readers LISTEN instead of polling the table.
NOTIFY_FUNCTION = """
CREATE FUNCTION taskgate_notify_finished() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('taskgate_task_finished', NEW.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
TERMINAL = "('succeeded', 'dead', 'cancelled')"
NOTIFY_ON_UPDATE = f"""
CREATE TRIGGER tasks_notify_finished_update AFTER UPDATE OF status ON tasks
FOR EACH ROW WHEN (NEW.status IN {TERMINAL} AND OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION taskgate_notify_finished()
"""
NOTIFY_ON_INSERT = f"""
CREATE TRIGGER tasks_notify_finished_insert AFTER INSERT ON tasks
FOR EACH ROW WHEN (NEW.status IN {TERMINAL})
EXECUTE FUNCTION taskgate_notify_finished()
"""


def upgrade() -> None:
    op.add_column("tasks", sa.Column("queue", sa.Text(), server_default="default", nullable=False))
    op.add_column("tasks", sa.Column("priority", sa.Integer(), server_default="5", nullable=False))
    op.add_column(
        "tasks", sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("tasks", sa.Column("replays", sa.Integer(), server_default="0", nullable=False))
    op.drop_constraint(op.f("ck_tasks_status_known"), "tasks", type_="check")
    op.create_check_constraint(op.f("ck_tasks_status_known"), "tasks", WITH_CANCELLED)
    op.create_index(
        "ix_tasks_name_created_at_id",
        "tasks",
        ["name", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_tasks_queue_created_at_id",
        "tasks",
        ["queue", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_tasks_status_finished_at",
        "tasks",
        ["status", "finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.execute(NOTIFY_FUNCTION)
    op.execute(NOTIFY_ON_UPDATE)
    op.execute(NOTIFY_ON_INSERT)


def downgrade() -> None:
    op.execute("DROP TRIGGER tasks_notify_finished_insert ON tasks")
    op.execute("DROP TRIGGER tasks_notify_finished_update ON tasks")
    op.execute("DROP FUNCTION taskgate_notify_finished()")
    op.drop_index("ix_tasks_status_finished_at", table_name="tasks")
    op.drop_index("ix_tasks_queue_created_at_id", table_name="tasks")
    op.drop_index("ix_tasks_name_created_at_id", table_name="tasks")
    op.execute("UPDATE tasks SET status = 'dead' WHERE status = 'cancelled'")
    op.drop_constraint(op.f("ck_tasks_status_known"), "tasks", type_="check")
    op.create_check_constraint(op.f("ck_tasks_status_known"), "tasks", WITHOUT_CANCELLED)
    op.drop_column("tasks", "replays")
    op.drop_column("tasks", "cancel_requested_at")
    op.drop_column("tasks", "priority")
    op.drop_column("tasks", "queue")
