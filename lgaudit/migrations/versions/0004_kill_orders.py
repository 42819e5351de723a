"""Kill orders (``lgaudit kill``): an append-only table in the hash chain.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLE = "lgaudit_kill_orders"
_REFUSED = "recorded rows are append-only"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("environment", sa.String(64)),
        sa.Column("thread_id", sa.String(255)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_lgaudit_kill_orders_order_id", _TABLE, ["order_id"])
    if op.get_bind().dialect.name == "postgresql":  # lgaudit_refuse_change: migration 0002
        op.execute(
            f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION lgaudit_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION lgaudit_refuse_change()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_{operation.lower()} BEFORE {operation} ON {_TABLE} "
            f"BEGIN SELECT RAISE(ABORT, 'lgaudit: {operation} on {_TABLE} refused: "
            f"{_REFUSED}'); END"
        )
    op.execute(  # as migration 0003: no INSERT OR REPLACE over a recorded row
        f"CREATE TRIGGER {_TABLE}_no_replace BEFORE INSERT ON {_TABLE} "
        f"WHEN EXISTS (SELECT 1 FROM {_TABLE} AS o WHERE o.gseq = NEW.gseq) "
        f"BEGIN SELECT RAISE(ABORT, 'lgaudit: insert into {_TABLE} collides with a "
        f"recorded row: {_REFUSED}'); END"
    )


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
