"""Where two runs of a thread branched apart: LangGraph's own time travel, in the checkpoints.

``graph.invoke(None, old_config)`` re-executes from an old checkpoint: LangGraph first saves
a ``fork`` checkpoint (a copy of the old one, one step later) and runs on from it.
``graph.update_state(old_config, values)`` saves an ``update`` checkpoint (one step later,
in a run of its own); ``invoke(None, that_config)`` then runs on from it. So the runs of a
thread form a tree of checkpoints, and two runs on different branches are comparable from
their nearest common checkpoint on: each side's later steps run one step ahead per fork or
update between that checkpoint and the run (its ``shift``).

Runs that merely continue one branch (a ``Command(resume=...)``, a new input at the head)
pass through no fork or update and are no branches of each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from lgaudit.history.trace import Event, Trace, user_channels
from lgaudit.store import EventRecord

if TYPE_CHECKING:
    from lgaudit.history.trace import TraceLoader

_BRANCHING = ("fork", "update")


@dataclass(frozen=True)
class Branch:
    """How two runs of a thread relate: the checkpoint their histories part at."""

    fork_step: int
    """Step of the nearest checkpoint both runs' histories hold."""
    shift_a: int
    """How many steps ``a``'s steps after it run ahead (one per fork or update between)."""
    shift_b: int
    """The same for ``b``."""
    state_a: dict[str, Any]
    """The state ``a``'s own steps start from at ``fork_step`` (after any update)."""
    state_b: dict[str, Any]
    """The same for ``b``."""
    updated: bool
    """Whether an ``update_state`` lies between (the two start states may differ)."""


def branch_between(
    loader: TraceLoader, a: Trace, run_a: str, b: Trace, run_b: str
) -> Branch | None:
    """The branch point of two runs of one thread, if LangGraph's time travel made one of
    them (or both) from the other's history; ``None`` otherwise."""
    own_a = _own(a, run_a)
    own_b = _own(b, run_b)
    if not own_a or not own_b or not own_a[0].get("thread_id"):
        return None
    ids_a = {e["checkpoint_id"] for e in own_a}
    ids_b = {e["checkpoint_id"] for e in own_b}
    if _start_id(own_b) in ids_a or _start_id(own_a) in ids_b:
        return None  # one run continues the other: no need to read the thread
    parent, owner = _parents(loader, str(own_a[0]["thread_id"]))
    up_a, up_b = _ancestry(own_a, parent), _ancestry(own_b, parent)
    history_a = ids_a | set(up_a)
    point = next((c for c in up_b if c in history_a), None)
    if point is None:
        point = next((c for c in up_a if c in ids_b), None)
    if point is None:
        return None
    events = _Checkpoints(loader, a, b, owner)
    fork = events.get(point)
    hops_a = _hops(up_a, ids_a, point, events)
    hops_b = _hops(up_b, ids_b, point, events)
    if fork is None or hops_a is None or hops_b is None or not isinstance(fork["step"], int):
        return None
    if not any(_source(h) in _BRANCHING for h in (*hops_a, *hops_b)):
        return None  # one run continues the other's branch: no time travel between them
    return Branch(
        fork_step=fork["step"],
        shift_a=sum(_source(h) in _BRANCHING for h in hops_a),
        shift_b=sum(_source(h) in _BRANCHING for h in hops_b),
        state_a=events.values(_start(hops_a, fork)),
        state_b=events.values(_start(hops_b, fork)),
        updated=any(_source(h) == "update" for h in (*hops_a, *hops_b)),
    )


def _own(trace: Trace, run_id: str) -> list[Event]:
    return [e for e in trace.by_run.get(run_id, []) if _root_checkpoint(e)]


def _root_checkpoint(e: Event) -> bool:
    return e["kind"] == "checkpoint" and not e["checkpoint_ns"] and isinstance(e["step"], int)


def _source(e: Event) -> Any:
    return e["payload"].get("source")


def _parents(loader: TraceLoader, thread_id: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """Parent and recording run of every root checkpoint of the thread (no values read)."""
    parent: dict[str, str | None] = {}
    owner: dict[str, str] = {}
    rows = loader.store.checkpoint_rows(
        thread_id=thread_id, checkpoint_ns="", checkpoint_id=None, before=None
    )
    try:
        for row in rows:
            parent[row.checkpoint_id] = row.parent_checkpoint_id
            owner[row.checkpoint_id] = row.run_id
    finally:
        rows.close()
    return parent, owner


def _start_id(own: list[Event]) -> str | None:
    """The checkpoint a run's own steps start at: its fork or update checkpoint, else the
    one its first checkpoint continued."""
    first = own[0]
    if _source(first) in _BRANCHING:
        return str(first["checkpoint_id"])
    return first["payload"].get("parent_checkpoint_id")


def _ancestry(own: list[Event], parent: dict[str, str | None]) -> list[str]:
    """From the checkpoint a run's own steps start at up to the thread's first."""
    at = _start_id(own)
    out: list[str] = []
    seen: set[str] = set()
    while at is not None and at not in seen:
        out.append(at)
        seen.add(at)
        at = parent.get(at)
    return out


def _hops(up: list[str], own: set[str], point: str, events: _Checkpoints) -> list[Event] | None:
    """The checkpoints between a run's own steps and ``point`` (nearest first); ``None``
    when one of them cannot be read."""
    if point in own or point not in up:
        return []
    out = []
    for checkpoint_id in up[: up.index(point)]:
        e = events.get(checkpoint_id)
        if e is None:
            return None
        out.append(e)
    return out


def _start(hops: list[Event], fork: Event) -> Event:
    """The state a side's steps start from: the fork or update checkpoints right after the
    branch point, the last of them (a run continuing that branch ran steps after it)."""
    start = fork
    for h in reversed(hops):
        if _source(h) not in _BRANCHING:
            break
        start = h
    return start


class _Checkpoints:
    """Root checkpoint events by id: from the two traces, else from the run that recorded
    them (an ``update_state`` run, an earlier run of the thread), read once per run."""

    def __init__(self, loader: TraceLoader, a: Trace, b: Trace, owner: dict[str, str]) -> None:
        self.loader = loader
        self.traces = (a, b)
        self.owner = owner
        self.read: dict[str, dict[str, Event]] = {}

    def get(self, checkpoint_id: str) -> Event | None:
        for trace in self.traces:
            found = trace.checkpoints.get(("", checkpoint_id))
            if found is not None:
                return found
        run = self.owner.get(checkpoint_id)
        if run is None:
            return None
        if run not in self.read:
            events: list[Event] = [
                dict(e) for e in self.loader.store.events(run, kinds=["checkpoint"])
            ]
            self.read[run] = {str(e["checkpoint_id"]): e for e in events if _root_checkpoint(e)}
        return self.read[run].get(checkpoint_id)

    def values(self, e: Event) -> dict[str, Any]:
        values = e["payload"].get("values")
        if values is None:  # read from its run, not expanded yet
            values = self.loader.expander.expand(cast(EventRecord, e))["payload"]["values"]
        return user_channels(values)
