"""Idempotency keys, unique per tenant.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("tenant", sa.Text(), server_default="", nullable=False))
    op.add_column("tasks", sa.Column("idempotency_key", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("request_hash", sa.Text(), nullable=True))
    op.create_index(
        "uq_tasks_tenant_idempotency_key",
        "tasks",
        ["tenant", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_tasks_tenant_idempotency_key", table_name="tasks")
    op.drop_column("tasks", "request_hash")
    op.drop_column("tasks", "idempotency_key")
    op.drop_column("tasks", "tenant")
