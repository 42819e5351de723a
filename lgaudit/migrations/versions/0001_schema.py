"""Tables for runs, hash-chained events, content-addressed blobs and checkpointer state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lgaudit_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("thread_id", sa.String(255)),
        sa.Column("parent_run_id", sa.String(64)),
        sa.Column("graph", sa.String(255)),
        sa.Column("environment", sa.String(64)),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("replay", sa.Text),
    )
    op.create_index("ix_lgaudit_runs_thread_id", "lgaudit_runs", ["thread_id"])
    op.create_index("ix_lgaudit_runs_parent_run_id", "lgaudit_runs", ["parent_run_id"])
    op.create_index("ix_lgaudit_runs_started_at", "lgaudit_runs", ["started_at"])

    op.create_table(
        "lgaudit_events",
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("thread_id", sa.String(255)),
        sa.Column("node", sa.String(255)),
        sa.Column("step", sa.Integer),
        sa.Column("task_id", sa.String(255)),
        sa.Column("checkpoint_ns", sa.Text),
        sa.Column("checkpoint_id", sa.String(64)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_lgaudit_events_run_seq", "lgaudit_events", ["run_id", "seq"], unique=True)
    op.create_index("ix_lgaudit_events_thread", "lgaudit_events", ["thread_id", "gseq"])
    op.create_index("ix_lgaudit_events_ts", "lgaudit_events", ["ts"])
    op.create_index("ix_lgaudit_events_checkpoint", "lgaudit_events", ["checkpoint_id"])

    op.create_table(
        "lgaudit_blobs",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )

    op.create_table(
        "lgaudit_checkpoints",
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("thread_id", sa.String(255), nullable=False),
        sa.Column("checkpoint_ns", sa.Text, nullable=False),
        sa.Column("checkpoint_id", sa.String(64), nullable=False),
        sa.Column("parent_checkpoint_id", sa.String(64)),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("checkpoint_ref", sa.String(64), nullable=False),
        sa.Column("metadata_ref", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_lgaudit_checkpoints_thread",
        "lgaudit_checkpoints",
        ["thread_id", "checkpoint_ns", "gseq"],
    )
    op.create_index(
        "ix_lgaudit_checkpoints_id", "lgaudit_checkpoints", ["thread_id", "checkpoint_id"]
    )

    op.create_table(
        "lgaudit_channel_values",
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(255), primary_key=True),
        sa.Column("thread_id", sa.String(255), nullable=False),
        sa.Column("checkpoint_ns", sa.Text, nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_lgaudit_channel_values_key",
        "lgaudit_channel_values",
        ["thread_id", "checkpoint_ns", "channel", "version"],
    )

    op.create_table(
        "lgaudit_writes",
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("thread_id", sa.String(255), nullable=False),
        sa.Column("checkpoint_ns", sa.Text, nullable=False),
        sa.Column("checkpoint_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(255), nullable=False),
        sa.Column("task_path", sa.Text, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_lgaudit_writes_checkpoint",
        "lgaudit_writes",
        ["thread_id", "checkpoint_ns", "checkpoint_id"],
    )

    op.create_table(
        "lgaudit_tombstones",
        sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("thread_id", sa.String(255), nullable=False),
    )
    op.create_index("ix_lgaudit_tombstones_thread_id", "lgaudit_tombstones", ["thread_id"])


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
