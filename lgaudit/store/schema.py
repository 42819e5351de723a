"""The recorded tables, as SQLAlchemy 2 typed models.

Each model is declared on its Core table (``lgaudit.store.tables``, where the columns, types,
indexes and append-only rules are documented): use these for typed queries of a store, e.g.
``select(Event).where(Event.run_id == run_id)`` in a session. lgaudit's own readers query
the tables through Core, so importing this module (and SQLAlchemy's ORM) is only paid by
code that asks for the models.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase, Mapped

from lgaudit.store import tables
from lgaudit.store.tables import RECORDED_TABLES, VERSION_TABLE, metadata

__all__ = [
    "RECORDED_TABLES",
    "VERSION_TABLE",
    "Base",
    "Blob",
    "ChannelValue",
    "CheckpointRow",
    "Event",
    "KillOrder",
    "Run",
    "ShadowProgress",
    "SignoffRow",
    "StageResultRow",
    "Tombstone",
    "WriteRow",
    "metadata",
]


class Base(DeclarativeBase):
    metadata = metadata


class Run(Base):
    """One top-level graph call. Immutable: its status is derived from its events."""

    __table__ = tables.runs
    __tablename__ = tables.runs.name

    run_id: Mapped[str]
    thread_id: Mapped[str | None]
    parent_run_id: Mapped[str | None]
    graph: Mapped[str | None]
    environment: Mapped[str | None]
    started_at: Mapped[int]  # µs since epoch
    replay: Mapped[str | None]  # JSON replay spec, for replays


class Event(Base):
    """One immutable, hash-chained event; ``gseq`` is the global order and chain position."""

    __table__ = tables.events
    __tablename__ = tables.events.name

    gseq: Mapped[int]
    run_id: Mapped[str]
    seq: Mapped[int]
    ts: Mapped[int]  # µs since epoch
    kind: Mapped[str]
    thread_id: Mapped[str | None]
    node: Mapped[str | None]
    step: Mapped[int | None]
    task_id: Mapped[str | None]
    checkpoint_ns: Mapped[str | None]
    checkpoint_id: Mapped[str | None]
    payload: Mapped[str]  # canonical JSON, hashed as stored
    prev_hash: Mapped[str]
    hash: Mapped[str]


class Blob(Base):
    """A serialized value, stored once under the SHA-256 of its type and bytes."""

    __table__ = tables.blobs
    __tablename__ = tables.blobs.name

    hash: Mapped[str]
    type: Mapped[str]
    data: Mapped[bytes]


class CheckpointRow(Base):
    """A ``put``: the checkpoint without its channel values, which live in channel rows."""

    __table__ = tables.checkpoints
    __tablename__ = tables.checkpoints.name

    gseq: Mapped[int]
    thread_id: Mapped[str]
    checkpoint_ns: Mapped[str]
    checkpoint_id: Mapped[str]
    parent_checkpoint_id: Mapped[str | None]
    run_id: Mapped[str]
    checkpoint_ref: Mapped[str]  # blob: checkpoint minus values
    metadata_ref: Mapped[str]  # blob: CheckpointMetadata


class ChannelValue(Base):
    """The value of one channel at one version, recorded when that version was new."""

    __table__ = tables.channel_values
    __tablename__ = tables.channel_values.name

    gseq: Mapped[int]
    channel: Mapped[str]
    thread_id: Mapped[str]
    checkpoint_ns: Mapped[str]
    version: Mapped[str]
    ref: Mapped[str]


class WriteRow(Base):
    """One pending write of a task (``put_writes``), positioned by ``idx`` as LangGraph does."""

    __table__ = tables.writes
    __tablename__ = tables.writes.name

    gseq: Mapped[int]
    position: Mapped[int]
    thread_id: Mapped[str]
    checkpoint_ns: Mapped[str]
    checkpoint_id: Mapped[str]
    task_id: Mapped[str]
    task_path: Mapped[str]
    idx: Mapped[int]
    channel: Mapped[str]
    ref: Mapped[str]


class Tombstone(Base):
    """``delete_thread``: hides the thread's earlier rows from the checkpointer, keeps them."""

    __table__ = tables.tombstones
    __tablename__ = tables.tombstones.name

    gseq: Mapped[int]
    thread_id: Mapped[str]


class KillOrder(Base):
    """``lgaudit kill`` and ``lgaudit kill --lift``: an order to stop matching runs, or the
    end of one, in the hash chain like every other recorded row."""

    __table__ = tables.kill_orders
    __tablename__ = tables.kill_orders.name

    gseq: Mapped[int]
    order_id: Mapped[str]
    action: Mapped[str]  # kill | lift
    environment: Mapped[str | None]
    thread_id: Mapped[str | None]
    run_id: Mapped[str | None]
    reason: Mapped[str]
    ts: Mapped[int]  # µs since epoch


class ShadowProgress(Base):
    """``lgaudit shadow``: a recorded run a shadow of a suite and candidate replayed, and
    how it came out."""

    __table__ = tables.shadow_progress
    __tablename__ = tables.shadow_progress.name

    gseq: Mapped[int]
    suite: Mapped[str]
    source_run_id: Mapped[str]
    source_gseq: Mapped[int]  # the source run's last event
    run_id: Mapped[str | None]  # the replay on the candidate
    outcome: Mapped[str]
    graph: Mapped[str | None]  # the candidate; NULL before migration 0007
    first_divergence: Mapped[str | None]  # canonical JSON
    detail: Mapped[str | None]


class StageResultRow(Base):
    """``lgaudit stage`` (or a change of a shadow's rolling verdict): its result and
    ``--json`` document, in the hash chain like every other recorded row."""

    __table__ = tables.stage_results
    __tablename__ = tables.stage_results.name

    gseq: Mapped[int]
    stage_id: Mapped[str]
    ts: Mapped[int]  # µs since epoch
    suite: Mapped[str]
    graph: Mapped[str]  # the candidate (module:attr)
    verdict: Mapped[str]  # promote | block
    kind: Mapped[str]  # stage | shadow
    case_run_ids: Mapped[str]  # canonical JSON list
    document: Mapped[str]  # canonical JSON


class SignoffRow(Base):
    """``lgaudit signoff``: a person's approval or rejection of a stage result."""

    __table__ = tables.signoffs
    __tablename__ = tables.signoffs.name

    gseq: Mapped[int]
    signoff_id: Mapped[str]
    stage_id: Mapped[str]
    ts: Mapped[int]  # µs since epoch
    signed_by: Mapped[str]
    decision: Mapped[str]  # approve | reject
    note: Mapped[str | None]
    override: Mapped[str | None]  # why a block verdict was approved
