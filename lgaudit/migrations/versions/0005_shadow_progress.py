"""Shadow progress (``lgaudit shadow``): an append-only table in the hash chain.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lgaudit.migrations.triggers import append_only

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLE = "lgaudit_shadow_progress"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("suite", sa.String(255), nullable=False),
        sa.Column("source_run_id", sa.String(64), nullable=False),
        sa.Column("source_gseq", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("outcome", sa.String(32), nullable=False),
    )
    op.create_index("ix_lgaudit_shadow_progress_suite", _TABLE, ["suite"])
    append_only(_TABLE)


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
