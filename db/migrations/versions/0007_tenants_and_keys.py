"""API keys, rate buckets, each tenant's count of unfinished tasks, and listing indexes
with the tenant in front.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "('scheduled', 'queued', 'running', 'retrying')"

# Each tenant's unfinished tasks, kept by the database itself: one statement-level trigger
# per kind of write adds up what the statement changed, whoever wrote it. Tenants are
# upserted in name order, so two statements never wait on each other's rows in a cycle.
COUNT_FUNCTIONS = f"""
CREATE FUNCTION taskgate_count_inserted() RETURNS trigger AS $$
BEGIN
    INSERT INTO tenant_load AS load (tenant, unfinished)
    SELECT tenant, count(*) FROM new_rows WHERE status IN {UNFINISHED}
    GROUP BY tenant ORDER BY tenant
    ON CONFLICT (tenant) DO UPDATE SET unfinished = load.unfinished + excluded.unfinished;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION taskgate_count_updated() RETURNS trigger AS $$
BEGIN
    INSERT INTO tenant_load AS load (tenant, unfinished)
    SELECT tenant, sum(change) FROM (
        SELECT tenant, 1 AS change FROM new_rows WHERE status IN {UNFINISHED}
        UNION ALL
        SELECT tenant, -1 FROM old_rows WHERE status IN {UNFINISHED}
    ) AS changes
    GROUP BY tenant HAVING sum(change) <> 0 ORDER BY tenant
    ON CONFLICT (tenant) DO UPDATE SET unfinished = load.unfinished + excluded.unfinished;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION taskgate_count_deleted() RETURNS trigger AS $$
BEGIN
    INSERT INTO tenant_load AS load (tenant, unfinished)
    SELECT tenant, -count(*) FROM old_rows WHERE status IN {UNFINISHED}
    GROUP BY tenant ORDER BY tenant
    ON CONFLICT (tenant) DO UPDATE SET unfinished = load.unfinished + excluded.unfinished;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_count_inserted AFTER INSERT ON tasks
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION taskgate_count_inserted();

CREATE TRIGGER tasks_count_updated AFTER UPDATE ON tasks
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION taskgate_count_updated();

CREATE TRIGGER tasks_count_deleted AFTER DELETE ON tasks
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
EXECUTE FUNCTION taskgate_count_deleted();
"""

# A key revoked (or deleted) is forgotten by every API process at once: each LISTENs here.
KEY_CHANGED_FUNCTION = """
CREATE FUNCTION taskgate_notify_key_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('taskgate_key_changed', OLD.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_notify_changed AFTER UPDATE OR DELETE ON api_keys
FOR EACH ROW EXECUTE FUNCTION taskgate_notify_key_changed();
"""

# The listings read one index each in page order; every one now starts with the tenant.
LISTING_INDEXES = {
    "created_at_id": [],
    "status_created_at_id": ["status"],
    "name_created_at_id": ["name"],
    "status_name_created_at_id": ["status", "name"],
    "queue_created_at_id": ["queue"],
}


def _statements(script: str) -> list[str]:
    """The statements of a script whose statements each end a line with `;` (function bodies
    end theirs with `$$ LANGUAGE plpgsql;`, and hold none that end a line so)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        inside_body = sum(part.count("$$") for part in current) % 2 == 1
        if line.rstrip().endswith(";") and not inside_body:
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    return statements


def _page_order() -> list[sa.TextClause]:
    return [sa.text("created_at DESC"), sa.text("id DESC")]


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("all_tenants", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("name", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('read', 'write', 'admin')", name=op.f("ck_api_keys_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_rate_buckets")),
    )
    op.create_table(
        "tenant_load",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("unfinished", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_tenant_load")),
    )
    op.execute(
        f"INSERT INTO tenant_load (tenant, unfinished) SELECT tenant, "
        f"count(*) FILTER (WHERE status IN {UNFINISHED}) FROM tasks GROUP BY tenant"
    )
    # One statement per call: the driver prepares each.
    for statement in _statements(COUNT_FUNCTIONS + KEY_CHANGED_FUNCTION):
        op.execute(statement)
    _swap_indexes(old="ix_tasks_{}", new="ix_tasks_tenant_{}", tenant=True)


def _swap_indexes(*, old: str, new: str, tenant: bool) -> None:
    """Build the new listing indexes, then drop the old ones, without blocking writes to a
    live table (CONCURRENTLY, outside the migration's transaction)."""
    with op.get_context().autocommit_block():
        for suffix, columns in LISTING_INDEXES.items():
            op.create_index(
                new.format(suffix),
                "tasks",
                [*(["tenant"] if tenant else []), *columns, *_page_order()],
                postgresql_concurrently=True,
                if_not_exists=True,
            )
        for suffix in LISTING_INDEXES:
            op.drop_index(
                old.format(suffix),
                table_name="tasks",
                postgresql_concurrently=True,
                if_exists=True,
            )


def downgrade() -> None:
    _swap_indexes(old="ix_tasks_tenant_{}", new="ix_tasks_{}", tenant=False)
    op.execute("DROP TRIGGER api_keys_notify_changed ON api_keys")
    op.execute("DROP FUNCTION taskgate_notify_key_changed()")
    for kind in ("inserted", "updated", "deleted"):
        op.execute(f"DROP TRIGGER tasks_count_{kind} ON tasks")
        op.execute(f"DROP FUNCTION taskgate_count_{kind}()")
    op.drop_table("tenant_load")
    op.drop_table("rate_buckets")
    op.drop_table("api_keys")

