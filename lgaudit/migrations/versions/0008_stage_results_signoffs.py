"""Stage results and sign-offs (``lgaudit stages``, ``lgaudit signoff``): two append-only
tables in the hash chain.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lgaudit.migrations.triggers import append_only

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_RESULTS = "lgaudit_stage_results"
_SIGNOFFS = "lgaudit_signoffs"


def upgrade() -> None:
    op.create_table(
        _RESULTS,
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("stage_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("suite", sa.String(255), nullable=False),
        sa.Column("graph", sa.String(255), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("case_run_ids", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_index("ix_lgaudit_stage_results_stage_id", _RESULTS, ["stage_id"])
    op.create_index("ix_lgaudit_stage_results_suite_graph", _RESULTS, ["suite", "graph"])
    append_only(_RESULTS)
    op.create_table(
        _SIGNOFFS,
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("signoff_id", sa.String(64), nullable=False),
        sa.Column("stage_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("signed_by", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("override", sa.Text),
    )
    op.create_index("ix_lgaudit_signoffs_stage_id", _SIGNOFFS, ["stage_id"])
    append_only(_SIGNOFFS)


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
