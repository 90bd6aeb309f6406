"""Queue controls: settings per tenant and named queue (pause, concurrency and rate
limits), and on each task its concurrency key, the control holding it back, the schedule
that made it and its progress.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD_INDEX = "ix_tasks_held"
HELD_BY_KEY_INDEX = "ix_tasks_held_key"


def upgrade() -> None:
    # Nullable, no default: added without rewriting the table.
    op.add_column("tasks", sa.Column("concurrency_key", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("held_reason", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tasks", sa.Column("schedule_id", sa.UUID(), nullable=True))
    op.add_column(
        "tasks", sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.create_table(
        "queue_settings",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("key_concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("rate_limit_per_second", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "tokens_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "concurrency_limit IS NULL OR concurrency_limit > 0",
            name=op.f("ck_queue_settings_concurrency_limit_positive"),
        ),
        sa.CheckConstraint(
            "key_concurrency_limit IS NULL OR key_concurrency_limit > 0",
            name=op.f("ck_queue_settings_key_concurrency_limit_positive"),
        ),
        sa.CheckConstraint(
            "rate_limit_per_second IS NULL OR rate_limit_per_second > 0",
            name=op.f("ck_queue_settings_rate_limit_positive"),
        ),
        sa.PrimaryKeyConstraint("tenant", "name", name=op.f("pk_queue_settings")),
    )
    # The tasks a control holds back, by queue and age: partial, so the hot path's rows
    # (never held) cost it nothing. Built without blocking writes to a live table.
    with op.get_context().autocommit_block():
        op.create_index(
            HELD_INDEX,
            "tasks",
            ["tenant", "queue", "created_at"],
            postgresql_where=sa.text("held_at IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        # Each key's held tasks, oldest first: the fair share's walk over keys.
        op.create_index(
            HELD_BY_KEY_INDEX,
            "tasks",
            ["tenant", "queue", "concurrency_key", "created_at"],
            postgresql_where=sa.text("held_at IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for index in (HELD_BY_KEY_INDEX, HELD_INDEX):
            op.drop_index(index, table_name="tasks", postgresql_concurrently=True, if_exists=True)
    op.drop_table("queue_settings")
    for column in ("progress", "schedule_id", "held_at", "held_reason", "concurrency_key"):
        op.drop_column("tasks", column)
