"""Webhooks: signed deliveries of task events.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One delivery per (webhook, task whose status changed into the webhook's event), written in
# the transaction that changed the task, whatever wrote it: a group commit, a burial, a
# cancel, the dead-letter recorder. Statement-level, so a group commit of 500 tasks costs one
# call; a database with no webhook at all pays one probe of an empty table. Transition tables
# cannot go with a column list (`UPDATE OF status`), so every UPDATE of tasks calls it.
# One event id per task and event (the subquery's gen_random_uuid() runs once per row): every
# webhook told of the event gets the same one. The task's row is kept as the event left it.
EVENTS_FUNCTION = """
CREATE FUNCTION taskgate_record_webhook_events() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_deliveries (webhook_id, event, event_id, task_id, task)
    SELECT webhooks.id, events.event, events.event_id, events.task_id, events.task
    FROM (
        SELECT gen_random_uuid() AS event_id, new_rows.id AS task_id, new_rows.tenant,
               'task.' || new_rows.status AS event, to_jsonb(new_rows) - 'traceback' AS task
        FROM new_rows JOIN old_rows ON old_rows.id = new_rows.id
        WHERE new_rows.status IN ('succeeded', 'dead', 'cancelled')
          AND old_rows.status IS DISTINCT FROM new_rows.status
          AND EXISTS (
              SELECT 1 FROM webhooks
              WHERE webhooks.tenant = new_rows.tenant
                AND 'task.' || new_rows.status = ANY (webhooks.events)
          )
    ) AS events
    JOIN webhooks
      ON webhooks.tenant = events.tenant AND events.event = ANY (webhooks.events);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
EVENTS_TRIGGER = """
CREATE TRIGGER tasks_record_webhook_events AFTER UPDATE ON tasks
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION taskgate_record_webhook_events()
"""


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index("ix_webhooks_tenant_created_at", "webhooks", ["tenant", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("task", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=_now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'failing', 'delivered', 'given_up')",
            name=op.f("ck_webhook_deliveries_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status IN ('pending', 'failing')"),
    )
    op.create_index(
        "ix_webhook_deliveries_finished",
        "webhook_deliveries",
        ["occurred_at"],
        postgresql_where=sa.text("status IN ('delivered', 'given_up')"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_occurred_at_id",
        "webhook_deliveries",
        ["webhook_id", sa.text("occurred_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column(
            "attempted_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_delivery_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery_attempts")),
    )
    op.create_index(
        "ix_webhook_delivery_attempts_delivery_id_attempted_at",
        "webhook_delivery_attempts",
        ["delivery_id", "attempted_at"],
    )
    op.execute(EVENTS_FUNCTION)
    op.execute(EVENTS_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER tasks_record_webhook_events ON tasks")
    op.execute("DROP FUNCTION taskgate_record_webhook_events()")
    op.drop_table("webhook_delivery_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
