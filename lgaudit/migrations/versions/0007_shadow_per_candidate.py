"""Shadow progress per candidate: each row names the candidate graph whose shadow replayed
the run, with the replay's first divergence and why a failed case failed (``lgaudit shadow
--json`` lists every run behind a verdict).

Rows recorded before this migration keep NULL in the new columns: they mixed candidates,
so they count for none, and their ``rows_digest`` (taken over the first five columns) still
verifies (``chain.row_line``). ``ADD COLUMN`` on both databases: the table, its rows and the
append-only triggers of 0005 stay as they are.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLE = "lgaudit_shadow_progress"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("graph", sa.String(255)))
    op.add_column(_TABLE, sa.Column("first_divergence", sa.Text))
    op.add_column(_TABLE, sa.Column("detail", sa.Text))
    op.create_index("ix_lgaudit_shadow_progress_suite_graph", _TABLE, ["suite", "graph"])


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
