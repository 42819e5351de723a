"""The recorded tables, as SQLAlchemy Core tables: what the store's SQL is written against.

Every table here is append-only: rows are inserted and never updated or deleted, which the
database enforces with triggers (migration ``0002``). Each state row (checkpoint, channel
value, write, tombstone) carries the ``gseq`` of the event that recorded it, so the state
the checkpointer serves is tied to the hash chain that ``lgaudit verify`` checks, and a
tombstone hides exactly the rows recorded before it.

The typed models (``lgaudit.store.schema``: ``Event``, ``Run``, ...) are declared on these
tables. The store reads through Core, so a verb that only reads never imports SQLAlchemy's
ORM (about 80 ms of every start-up).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

#: Alembic's version table for lgaudit's own migration history (never the host app's).
VERSION_TABLE = "lgaudit_alembic_version"

metadata = MetaData()


def _key(name: str, type_: type[Integer] = BigInteger) -> Column[int]:
    """An integer primary-key column whose values lgaudit assigns (never autoincremented)."""
    return Column(name, type_, primary_key=True, autoincrement=False)


#: One top-level graph call. Immutable: its status is derived from its events.
runs = Table(
    "lgaudit_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("thread_id", String(255), index=True),
    Column("parent_run_id", String(64), index=True),
    Column("graph", String(255)),
    Column("environment", String(64)),
    Column("started_at", BigInteger, nullable=False, index=True),  # µs since epoch
    Column("replay", Text),  # JSON replay spec, for replays
)

#: One immutable, hash-chained event; ``gseq`` is the global order and chain position.
events = Table(
    "lgaudit_events",
    metadata,
    _key("gseq"),
    Column("run_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", BigInteger, nullable=False),  # µs since epoch
    Column("kind", String(32), nullable=False),
    Column("thread_id", String(255)),
    Column("node", String(255)),
    Column("step", Integer),
    Column("task_id", String(255)),
    Column("checkpoint_ns", Text),
    Column("checkpoint_id", String(64)),
    Column("payload", Text, nullable=False),  # canonical JSON, hashed as stored
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_lgaudit_events_run_seq", "run_id", "seq", unique=True),
    Index("ix_lgaudit_events_thread", "thread_id", "gseq"),
    Index("ix_lgaudit_events_ts", "ts"),
    Index("ix_lgaudit_events_checkpoint", "checkpoint_id"),
    Index("ix_lgaudit_events_run_kind", "run_id", "kind"),  # runs: ends, tokens, recorder
)

#: A serialized value, stored once under the SHA-256 of its type and bytes.
blobs = Table(
    "lgaudit_blobs",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: A ``put``: the checkpoint without its channel values, which live in channel rows.
checkpoints = Table(
    "lgaudit_checkpoints",
    metadata,
    _key("gseq"),
    Column("thread_id", String(255), nullable=False),
    Column("checkpoint_ns", Text, nullable=False),
    Column("checkpoint_id", String(64), nullable=False),
    Column("parent_checkpoint_id", String(64)),
    Column("run_id", String(64), nullable=False),
    Column("checkpoint_ref", String(64), nullable=False),  # blob: checkpoint minus values
    Column("metadata_ref", String(64), nullable=False),  # blob: CheckpointMetadata
    Index("ix_lgaudit_checkpoints_thread", "thread_id", "checkpoint_ns", "gseq"),
    Index("ix_lgaudit_checkpoints_id", "thread_id", "checkpoint_id"),
)

#: The value of one channel at one version, recorded when that version was new.
channel_values = Table(
    "lgaudit_channel_values",
    metadata,
    _key("gseq"),
    Column("channel", String(255), primary_key=True),
    Column("thread_id", String(255), nullable=False),
    Column("checkpoint_ns", Text, nullable=False),
    Column("version", String(255), nullable=False),
    Column("ref", String(64), nullable=False),
    Index("ix_lgaudit_channel_values_key", "thread_id", "checkpoint_ns", "channel", "version"),
)

#: One pending write of a task (``put_writes``), positioned by ``idx`` as LangGraph does.
writes = Table(
    "lgaudit_writes",
    metadata,
    _key("gseq"),
    _key("position", Integer),
    Column("thread_id", String(255), nullable=False),
    Column("checkpoint_ns", Text, nullable=False),
    Column("checkpoint_id", String(64), nullable=False),
    Column("task_id", String(255), nullable=False),
    Column("task_path", Text, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("channel", String(255), nullable=False),
    Column("ref", String(64), nullable=False),
    Index("ix_lgaudit_writes_checkpoint", "thread_id", "checkpoint_ns", "checkpoint_id"),
)

#: ``delete_thread``: hides the thread's earlier rows from the checkpointer, keeps them.
tombstones = Table(
    "lgaudit_tombstones",
    metadata,
    _key("gseq"),
    Column("thread_id", String(255), nullable=False, index=True),
)

#: ``lgaudit kill`` and ``lgaudit kill --lift``: an order to stop matching runs, or the end
#: of one. Recorded by a ``guard`` event (its ``rows_digest`` covers the row), so the orders
#: are in the hash chain like every other recorded row.
kill_orders = Table(
    "lgaudit_kill_orders",
    metadata,
    _key("gseq"),
    Column("order_id", String(64), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # kill | lift
    Column("environment", String(64)),
    Column("thread_id", String(255)),
    Column("run_id", String(64)),
    Column("reason", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),  # µs since epoch
)

#: ``lgaudit shadow``: a recorded run a shadow of a suite and candidate replayed, and how it
#: came out. Recorded by a ``custom`` event of a short run of its own; a shadow resumes
#: after the runs its suite and candidate have rows for, and never replays one of them
#: again. ``graph``, ``first_divergence`` and ``detail`` came with migration 0007: a row
#: recorded before it has them NULL, belongs to no candidate, and keeps its digest
#: (``info["digest_width"]``: a row whose later columns are all NULL is digested without
#: them, as it was recorded).
shadow_progress = Table(
    "lgaudit_shadow_progress",
    metadata,
    _key("gseq"),
    Column("suite", String(255), nullable=False, index=True),
    Column("source_run_id", String(64), nullable=False),
    Column("source_gseq", BigInteger, nullable=False),  # the source run's last event
    Column("run_id", String(64)),  # the replay on the candidate
    Column("outcome", String(32), nullable=False),
    Column("graph", String(255)),  # the candidate (module:attr)
    Column("first_divergence", Text),  # canonical JSON of the diff's first divergence
    Column("detail", Text),  # why the case failed
    Index("ix_lgaudit_shadow_progress_suite_graph", "suite", "graph"),
    info={"digest_width": 5},
)

#: ``lgaudit stage`` (and each change of a shadow's rolling verdict): the result, its
#: ``--json`` document as canonical JSON. Recorded by a ``custom`` event of a short run of
#: its own (``lgaudit.review``), whose ``rows_digest`` covers the row.
stage_results = Table(
    "lgaudit_stage_results",
    metadata,
    _key("gseq"),
    Column("stage_id", String(64), nullable=False, index=True),
    Column("ts", BigInteger, nullable=False),  # µs since epoch
    Column("suite", String(255), nullable=False),
    Column("graph", String(255), nullable=False),  # the candidate (module:attr)
    Column("verdict", String(16), nullable=False),  # promote | block
    Column("kind", String(16), nullable=False),  # stage | shadow
    Column("case_run_ids", Text, nullable=False),  # canonical JSON list
    Column("document", Text, nullable=False),  # canonical JSON of the --json document
    Index("ix_lgaudit_stage_results_suite_graph", "suite", "graph"),
)

#: ``lgaudit signoff``: a person's approval or rejection of a stage result, recorded like
#: a stage result (a ``custom`` event whose ``rows_digest`` covers the row).
signoffs = Table(
    "lgaudit_signoffs",
    metadata,
    _key("gseq"),
    Column("signoff_id", String(64), nullable=False),
    Column("stage_id", String(64), nullable=False, index=True),
    Column("ts", BigInteger, nullable=False),  # µs since epoch
    Column("signed_by", String(255), nullable=False),
    Column("decision", String(16), nullable=False),  # approve | reject
    Column("note", Text),
    Column("override", Text),  # why a block verdict was approved
)

#: Tables whose rows are recorded history: the database's triggers guard these (migrations
#: 0002 and 0003 for the first seven, 0004 kill orders, 0005 shadow progress, 0008 stage
#: results and sign-offs).
RECORDED_TABLES = (
    runs.name,
    events.name,
    blobs.name,
    checkpoints.name,
    channel_values.name,
    writes.name,
    tombstones.name,
    kill_orders.name,
    shadow_progress.name,
    stage_results.name,
    signoffs.name,
)
