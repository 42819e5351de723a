"""Where a run branched off another: LangGraph's own time travel, seen in the checkpoints.

``graph.invoke(None, old_config)`` re-executes from an old checkpoint: LangGraph first saves
a ``fork`` checkpoint (a copy of the old one, one step later) and runs on from it.
``graph.update_state(old_config, values)`` saves an ``update`` checkpoint (one step later,
in a run of its own); ``invoke(None, that_config)`` then runs on from it. Either way the
new run starts, through ``fork``/``update`` checkpoints, from a checkpoint in the other
run's history (one of its own, or one its thread had when it started, such as the
checkpoint a resumed run continued from): that is where the two runs are comparable from,
and the steps after it run ``shift`` steps ahead of the other's.

A run that simply continues a thread (a ``Command(resume=...)``, a new input at the
thread's head) passes through no such checkpoint and is no branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from lgaudit.audit.trace import Event, Trace, user_channels
from lgaudit.store import EventRecord

if TYPE_CHECKING:
    from lgaudit.audit.trace import TraceLoader

_BRANCHING = ("fork", "update")


@dataclass(frozen=True)
class Branch:
    """How run ``b`` branched off a checkpoint in run ``a``'s history."""

    fork_step: int
    """Step of the checkpoint where ``b``'s history leaves ``a``'s."""
    shift: int
    """How many steps ``b``'s later steps run ahead of ``a``'s (one per fork or update)."""
    fork_state: dict[str, Any]
    """The state at that checkpoint."""
    start_state: dict[str, Any]
    """The state ``b`` started from: ``fork_state`` plus what updates changed."""
    updated: bool
    """Whether an ``update_state`` lies between (``start_state`` may differ)."""


def branch_of(loader: TraceLoader, a: Trace, b: Trace, run_b: str) -> Branch | None:
    """``b``'s branch off a checkpoint in the history of ``a`` (a run of its thread)."""
    own = [e for e in b.by_run.get(run_b, []) if _root_checkpoint(e)]
    if not own or not own[0].get("thread_id"):
        return None
    first = own[0]
    source = first["payload"].get("source")
    if source in _BRANCHING:
        start_id = first["checkpoint_id"]
    elif source == "loop" and first["payload"].get("parent_checkpoint_id"):
        start_id = first["payload"]["parent_checkpoint_id"]
    else:
        return None  # a new input: not a re-execution of anything
    rows = loader.store.checkpoint_rows(
        thread_id=str(first["thread_id"]), checkpoint_ns="", checkpoint_id=None, before=None
    )
    parent: dict[str, str | None] = {}
    owner: dict[str, str] = {}
    try:
        for row in rows:
            parent[row.checkpoint_id] = row.parent_checkpoint_id
            owner[row.checkpoint_id] = row.run_id
    finally:
        rows.close()
    history = _history(a, parent)
    chain: list[str] = []
    at: str | None = start_id
    while at is not None and at not in history and at not in chain:
        chain.append(at)
        at = parent.get(at)
    if at is None or at not in history or not chain:
        return None  # unrelated, or continuing ``a``'s own head
    events = _Checkpoints(loader, a, b, owner)
    hops = [events.get(c) for c in chain]
    fork = events.get(at)
    if fork is None or any(h is None or h["payload"].get("source") not in _BRANCHING for h in hops):
        return None  # a run of another branch in between: not started from ``a``'s
    start = hops[0]
    assert start is not None
    if not isinstance(fork["step"], int) or not isinstance(start["step"], int):
        return None
    return Branch(
        fork_step=fork["step"],
        shift=start["step"] - fork["step"],
        fork_state=events.values(fork),
        start_state=events.values(start),
        updated=any(h is not None and h["payload"].get("source") == "update" for h in hops),
    )


def _root_checkpoint(e: Event) -> bool:
    return e["kind"] == "checkpoint" and not e["checkpoint_ns"] and isinstance(e["step"], int)


def _history(a: Trace, parent: dict[str, str | None]) -> set[str]:
    """``a``'s checkpoints and those its thread had when it started (its ancestors)."""
    mine = [e["checkpoint_id"] for e in a.events if _root_checkpoint(e)]
    out = set(mine)
    if mine:
        at = parent.get(mine[0])
        while at is not None and at not in out:
            out.add(at)
            at = parent.get(at)
    return out


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
