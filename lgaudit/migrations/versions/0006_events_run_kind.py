"""An index of events by run and kind: ``lgaudit runs`` reads each listed run's ends, token
counts and recorder by kind, without scanning every event of long runs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INDEX = "ix_lgaudit_events_run_kind"


def upgrade() -> None:
    op.create_index(_INDEX, "lgaudit_events", ["run_id", "kind"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="lgaudit_events")
