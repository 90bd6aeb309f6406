"""Results filtered by status and handler name read one index in page order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Without it, `?status=dead&name=x` walks every dead task when few are x's.
    op.create_index(
        "ix_tasks_status_name_created_at_id",
        "tasks",
        ["status", "name", sa.text("created_at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_status_name_created_at_id", table_name="tasks")
