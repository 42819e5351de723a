"""Where a run branched off another: LangGraph's own time travel, seen in the checkpoints.

``graph.invoke(None, old_config)`` re-executes from an old checkpoint: LangGraph first saves
a ``fork`` checkpoint (a copy of the old one, one step later) and runs on from it.
``graph.update_state(old_config, values)`` saves an ``update`` checkpoint (one step later,
in a run of its own); ``invoke(None, that_config)`` then runs on from it. Either way the
new run's first checkpoint leads, through ``fork``/``update`` checkpoints, back to a
checkpoint of the original run: that is where the two runs are comparable from, and the
steps after it run ``shift`` steps ahead of the original's.

A run that simply continues a thread (a ``Command(resume=...)`` or a new input at the
thread's head) passes through no such checkpoint and is no branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lgaudit.audit.trace import Event, Trace, user_channels

if TYPE_CHECKING:
    from lgaudit.audit.trace import TraceLoader

_BRANCHING = ("fork", "update")
_MAX_HOPS = 50  # update_state calls chained before one invoke


@dataclass(frozen=True)
class Branch:
    """How run ``b`` branched off a checkpoint of run ``a``."""

    fork_step: int
    """Step of ``a``'s checkpoint that ``b``'s history leaves ``a`` at."""
    shift: int
    """How many steps ``b``'s later steps run ahead of ``a``'s (one per fork or update)."""
    start_state: dict[str, Any]
    """The state ``b`` started from: ``a``'s at ``fork_step``, plus any update's values."""
    updated: bool
    """Whether an ``update_state`` lies between (``start_state`` may differ from ``a``'s)."""


def branch_of(loader: TraceLoader, a: Trace, b: Trace, run_b: str) -> Branch | None:
    """``b``'s branch off a checkpoint of ``a`` (both runs of one thread), if it is one."""
    own = [e for e in b.by_run.get(run_b, []) if _root_checkpoint(e)]
    if not own:
        return None
    first = own[0]
    start: Event | None = first
    if first["payload"].get("source") not in _BRANCHING:
        if first["payload"].get("source") != "loop":
            return None  # a new input: not a re-execution of anything
        start = _checkpoint(loader, a, b, first, first["payload"].get("parent_checkpoint_id"))
    if start is None:
        return None
    current: Event | None = start
    updated = False
    for _ in range(_MAX_HOPS):
        if current is None:
            return None
        if current["run_id"] in a.runs:
            if current is start:
                return None  # continues ``a``'s head: no fork or update between
            return Branch(
                fork_step=int(current["step"]),
                shift=int(start["step"]) - int(current["step"]),
                start_state=user_channels(start["payload"].get("values")),
                updated=updated,
            )
        source = current["payload"].get("source")
        if source not in _BRANCHING or not isinstance(current.get("step"), int):
            return None
        updated = updated or source == "update"
        current = _checkpoint(loader, a, b, current, current["payload"].get("parent_checkpoint_id"))
    return None


def _root_checkpoint(e: Event) -> bool:
    return e["kind"] == "checkpoint" and not e["checkpoint_ns"] and isinstance(e["step"], int)


def _checkpoint(
    loader: TraceLoader, a: Trace, b: Trace, child: Event, checkpoint_id: str | None
) -> Event | None:
    """A root checkpoint of the thread by id: from either trace, else from the run that
    recorded it (an ``update_state`` run between the two)."""
    if not checkpoint_id:
        return None
    for trace in (a, b):
        found = trace.checkpoints.get(("", checkpoint_id))
        if found is not None:
            return found
    thread = child.get("thread_id")
    if not thread:
        return None
    row = loader.store.checkpoint_row(str(thread), "", checkpoint_id)
    if row is None:
        return None
    other = loader.run(row.run_id)
    return other.checkpoints.get(("", checkpoint_id))
