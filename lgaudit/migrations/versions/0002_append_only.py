"""Append-only, enforced by the database: triggers refuse UPDATE, DELETE and TRUNCATE.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

#: The recorded tables as of this revision (later tables get their triggers in their own).
RECORDED_TABLES = (
    "lgaudit_runs",
    "lgaudit_events",
    "lgaudit_blobs",
    "lgaudit_checkpoints",
    "lgaudit_channel_values",
    "lgaudit_writes",
    "lgaudit_tombstones",
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION lgaudit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'lgaudit: % on % refused: recorded rows are append-only',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_FUNCTION)
    for table in RECORDED_TABLES:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lgaudit_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION lgaudit_refuse_change()"
            )
        else:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'lgaudit: {operation} on {table} refused: "
                    "recorded rows are append-only'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
