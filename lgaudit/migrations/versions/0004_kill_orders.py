"""Kill orders (``lgaudit kill``): an append-only table in the hash chain.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lgaudit.migrations.triggers import append_only

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLE = "lgaudit_kill_orders"


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
    append_only(_TABLE)


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
