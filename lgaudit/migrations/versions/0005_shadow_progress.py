"""Shadow progress (``lgaudit shadow``): an append-only table in the hash chain.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLE = "lgaudit_shadow_progress"
_REFUSED = "recorded rows are append-only"


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
