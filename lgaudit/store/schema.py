"""The recorded tables, as SQLAlchemy 2 typed models.

Every table here is append-only: rows are inserted and never updated or deleted, which the
database enforces with triggers (migration ``0002``). Each state row (checkpoint, channel
value, write, tombstone) carries the ``gseq`` of the event that recorded it, so the state
the checkpointer serves is tied to the hash chain that ``lgaudit verify`` checks, and a
tombstone hides exactly the rows recorded before it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Alembic's version table for lgaudit's own migration history (never the host app's).
VERSION_TABLE = "lgaudit_alembic_version"

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Run(Base):
    """One top-level graph call. Immutable: its status is derived from its events."""

    __tablename__ = "lgaudit_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str | None] = mapped_column(String(255), index=True)
    parent_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    graph: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[int] = mapped_column(BigInteger, index=True)  # µs since epoch
    replay: Mapped[str | None] = mapped_column(Text)  # JSON replay spec, for replays


class Event(Base):
    """One immutable, hash-chained event; ``gseq`` is the global order and chain position."""

    __tablename__ = "lgaudit_events"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    run_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    ts: Mapped[int] = mapped_column(BigInteger)  # µs since epoch
    kind: Mapped[str] = mapped_column(String(32))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    node: Mapped[str | None] = mapped_column(String(255))
    step: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(255))
    checkpoint_ns: Mapped[str | None] = mapped_column(Text)
    checkpoint_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ix_lgaudit_events_run_seq", "run_id", "seq", unique=True),
        Index("ix_lgaudit_events_thread", "thread_id", "gseq"),
        Index("ix_lgaudit_events_ts", "ts"),
        Index("ix_lgaudit_events_checkpoint", "checkpoint_id"),
    )


class Blob(Base):
    """A serialized value, stored once under the SHA-256 of its type and bytes."""

    __tablename__ = "lgaudit_blobs"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CheckpointRow(Base):
    """A ``put``: the checkpoint without its channel values, which live in channel rows."""

    __tablename__ = "lgaudit_checkpoints"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    thread_id: Mapped[str] = mapped_column(String(255))
    checkpoint_ns: Mapped[str] = mapped_column(Text)
    checkpoint_id: Mapped[str] = mapped_column(String(64))
    parent_checkpoint_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    checkpoint_ref: Mapped[str] = mapped_column(String(64))  # blob: checkpoint minus values
    metadata_ref: Mapped[str] = mapped_column(String(64))  # blob: CheckpointMetadata

    __table_args__ = (
        Index("ix_lgaudit_checkpoints_thread", "thread_id", "checkpoint_ns", "gseq"),
        Index("ix_lgaudit_checkpoints_id", "thread_id", "checkpoint_id"),
    )


class ChannelValue(Base):
    """The value of one channel at one version, recorded when that version was new."""

    __tablename__ = "lgaudit_channel_values"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(255), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(255))
    checkpoint_ns: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(255))
    ref: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_lgaudit_channel_values_key", "thread_id", "checkpoint_ns", "channel", "version"),
    )


class WriteRow(Base):
    """One pending write of a task (``put_writes``), positioned by ``idx`` as LangGraph does."""

    __tablename__ = "lgaudit_writes"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    thread_id: Mapped[str] = mapped_column(String(255))
    checkpoint_ns: Mapped[str] = mapped_column(Text)
    checkpoint_id: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(255))
    task_path: Mapped[str] = mapped_column(Text)
    idx: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(255))
    ref: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_lgaudit_writes_checkpoint", "thread_id", "checkpoint_ns", "checkpoint_id"),
    )


class Tombstone(Base):
    """``delete_thread``: hides the thread's earlier rows from the checkpointer, keeps them."""

    __tablename__ = "lgaudit_tombstones"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    thread_id: Mapped[str] = mapped_column(String(255), index=True)


class KillOrder(Base):
    """``lgaudit kill`` and ``lgaudit kill --lift``: an order to stop matching runs, or the
    end of one. Recorded by a ``guard`` event (its ``rows_digest`` covers the row), so the
    orders are in the hash chain like every other recorded row."""

    __tablename__ = "lgaudit_kill_orders"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))  # kill | lift
    environment: Mapped[str | None] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    run_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    ts: Mapped[int] = mapped_column(BigInteger)  # µs since epoch


class ShadowProgress(Base):
    """``lgaudit shadow``: a recorded run a suite's shadow replayed, and how it came out.
    Recorded by a ``custom`` event of a short run of its own; a shadow resumes after the
    runs its suite has rows for, and never replays one of them again."""

    __tablename__ = "lgaudit_shadow_progress"

    gseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    suite: Mapped[str] = mapped_column(String(255), index=True)
    source_run_id: Mapped[str] = mapped_column(String(64))
    source_gseq: Mapped[int] = mapped_column(BigInteger)  # the source run's last event
    run_id: Mapped[str | None] = mapped_column(String(64))  # the replay on the candidate
    outcome: Mapped[str] = mapped_column(String(32))


#: Tables whose rows are recorded history: the database's triggers guard these (migrations
#: 0002 and 0003 for the first seven, 0004 kill orders, 0005 shadow progress).
RECORDED_TABLES = (
    Run.__tablename__,
    Event.__tablename__,
    Blob.__tablename__,
    CheckpointRow.__tablename__,
    ChannelValue.__tablename__,
    WriteRow.__tablename__,
    Tombstone.__tablename__,
    KillOrder.__tablename__,
    ShadowProgress.__tablename__,
)
