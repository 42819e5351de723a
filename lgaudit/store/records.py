"""The records the store takes and gives, documented field by field.

Write side: ``NewRun`` and ``NewEvent`` (what the recorder and checkpointer append).
Read side: ``RunRecord``, ``EventRecord`` and ``VerifyResult`` (what ``Store`` returns and
what ``lgaudit ... --json`` prints, unchanged).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from lgaudit.store.blobs import Blob

#: Event kinds, exactly as SPEC names them.
EVENT_KINDS = (
    "run_start",
    "run_end",
    "run_error",
    "node_start",
    "node_end",
    "node_error",
    "llm_start",
    "llm_end",
    "llm_error",
    "tool_start",
    "tool_end",
    "tool_error",
    "checkpoint",
    "writes",
    "interrupt",
    "resume",
    "state_update",
    "delete",
    "custom",
    "memory_read",
    "memory_write",
    "guard",
)

RunStatus = Literal["running", "succeeded", "failed", "interrupted", "abandoned"]
#: What made a run: an ordinary recorded call, a replay, or a case of a stage or shadow suite.
RunKind = Literal["recorded", "replay", "stage"]

#: The graph name of the runs that record kill orders (``lgaudit kills`` lists them, not
#: ``lgaudit runs``).
KILL_GRAPH = "lgaudit:kill"
#: The graph name of the runs that record a shadow's progress (``lgaudit shadow``).
SHADOW_GRAPH = "lgaudit:shadow"
#: lgaudit's own bookkeeping runs, left out of ``lgaudit runs``.
INTERNAL_GRAPHS = (KILL_GRAPH, SHADOW_GRAPH)

#: ``prev_hash`` of the first event of a store.
GENESIS_HASH = "0" * 64


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch (events keep it as an integer)."""
    return time.time_ns() // 1000


def iso(us: int | None) -> str | None:
    """An event timestamp as ISO 8601 UTC (``datetime.isoformat``: no fraction on a whole
    second)."""
    if us is None:
        return None
    seconds, micro = divmod(us, 1_000_000)
    return f"{_iso_second(seconds)}.{micro:06d}Z" if micro else f"{_iso_second(seconds)}Z"


@functools.lru_cache(maxsize=256)
def _iso_second(seconds: int) -> str:
    # events come in runs of the same second: reading thousands formats few seconds
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat().removesuffix("+00:00")


@dataclass(frozen=True)
class NewRun:
    """A run as first recorded; immutable afterwards (status comes from its events)."""

    run_id: str
    thread_id: str | None = None
    parent_run_id: str | None = None
    graph: str | None = None
    environment: str | None = None
    started_at: int = field(default_factory=now_us)
    replay: dict[str, Any] | None = None
    #: the call's config as recorded at ``run_start`` (redacted; not a column): what a
    #: replay runs under — recursion limit, tags, metadata, configurable keys
    config: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    #: the graph's import path ``module:attr`` when known (not a column: ``run_start`` holds it)
    graph_ref: str | None = field(default=None, compare=False)
    #: the graph's nodes and edges (``graph_ref.graph_shape``; not a column: ``run_start``)
    graph_shape: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass
class NewEvent:
    """One event to append. ``seq``, ``gseq``, ``prev_hash`` and ``hash`` are assigned by
    the store inside the append transaction, so they stay gapless and linear across
    threads and processes.

    ``blobs`` are content-addressed values the payload refers to (stored once);
    ``rows`` are checkpointer state rows ``(table, values)`` tied to this event's ``gseq``.
    """

    run: NewRun
    kind: str
    payload: dict[str, Any]
    ts: int = field(default_factory=now_us)
    thread_id: str | None = None
    node: str | None = None
    step: int | None = None
    task_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    blobs: dict[str, Blob] = field(default_factory=dict)
    rows: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)


class RunRecord(TypedDict):
    """A run as ``lgaudit runs --json`` prints it."""

    run_id: str
    """Full run id (UUID); any unique prefix of 6+ characters selects it in the CLI."""
    thread_id: str | None
    """LangGraph ``thread_id`` the run executed on; runs of one thread form a thread."""
    parent_run_id: str | None
    """For a replay, the run it was replayed from; else ``None``."""
    graph: str | None
    """The graph's name (``graph.get_name()``) or the ``module:attr`` a replay imported."""
    status: RunStatus
    """``running`` until a ``run_end``/``run_error`` event; ``interrupted`` if it ended on
    an interrupt; a run whose recorder died mid-run stays ``running``."""
    started_at: str
    """ISO 8601 UTC."""
    ended_at: str | None
    """ISO 8601 UTC of the run's last ``run_end``/``run_error`` event."""
    environment: str | None
    """``Recorder(environment=...)``, e.g. ``staging``."""
    event_count: int
    """Number of events recorded for the run."""
    tokens: int
    """Total tokens over the run's ``llm_end`` events."""
    replay: dict[str, Any] | None
    """The replay spec for a replayed run (a stage or shadow case's names its suite and
    case under ``stage``)."""
    kind: RunKind
    """``recorded`` (an ordinary call), ``replay`` (``parent_run_id`` or a replay spec), or
    ``stage`` (a stage or shadow case: its replay spec names the suite)."""
    graph_ref: str | None
    """The graph's import path ``module:attr``, what ``lgaudit replay --graph`` takes, when
    it was known at run start (a replay's or stage case's ``--graph``, else the module
    global the graph is bound to); else ``None``."""


class EventRecord(TypedDict):
    """One event as ``lgaudit show --json`` prints it."""

    gseq: int
    """Global order: the event's position in the store-wide hash chain (gapless)."""
    run_id: str
    seq: int
    """Per-run sequence number, gapless from 1."""
    ts: str
    """ISO 8601 UTC."""
    kind: str
    """One of ``EVENT_KINDS``."""
    thread_id: str | None
    node: str | None
    step: int | None
    task_id: str | None
    checkpoint_ns: str | None
    checkpoint_id: str | None
    payload: dict[str, Any]
    """Kind-specific JSON; checkpoint and writes payloads refer to values by blob hash and
    are expanded (``values``/``value``) by ``Store.events(..., expand=True)``."""
    prev_hash: str
    hash: str
    """SHA-256 over the canonical event, ``prev_hash`` included."""


class BadEvent(TypedDict):
    run_id: str | None
    seq: int | None
    reason: str


class VerifyResult(TypedDict):
    """``lgaudit verify --json``."""

    ok: bool
    events_checked: int
    first_bad: BadEvent | None
    head_hash: str | None
    """The ``hash`` of the last event checked: the chain's head (of the run, with
    ``--run``); keep it elsewhere to pin the chain's end. ``None`` when nothing was checked
    or the chain is broken."""
