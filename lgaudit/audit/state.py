"""State rules: every checkpoint explained by its parent plus the step's recorded writes
(``state.unexplained_change``), and writes only by a key's owners (``state.owner``).

Without the graph the reducers cannot be run, so each changed channel is judged on its
own: it needs a recorded write in that step, and its new value must follow from the old
one and the writes under overwrite, list-append (``operator.add``), numeric add, dict
merge or ``add_messages`` (merge by message id). A node that mutates its input state in
place leaves no write and no change in the stored checkpoint, but later node inputs (and
the run's output) show the mutated value: each ``node_start`` input is checked against the
checkpoint its step started from.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from typing import Any

from lgaudit.audit.findings import Finding, finding_at
from lgaudit.audit.policy import Policy
from lgaudit.history.deep import Pairs
from lgaudit.history.normalize import Memo, as_message, canonical, is_message, normalize, summary
from lgaudit.history.trace import (
    NULL_TASK,
    Event,
    Trace,
    update_step,
    user_channels,
    write_entries,
)
from lgaudit.store.views import is_internal_channel

RULE = "state.unexplained_change"


def unexplained_changes(trace: Trace, run_ids: set[str]) -> list[Finding]:
    """``state.unexplained_change`` findings for the given runs of a trace."""
    return _checkpoint_changes(trace, run_ids) + _stale_inputs(trace, run_ids)


def owner_violations(trace: Trace, run_ids: set[str], policy: Policy) -> list[Finding]:
    """``state.owner``: a write to an owned key by a node that does not own it."""
    out: list[Finding] = []
    for e in trace.events:
        if e["run_id"] not in run_ids or e["kind"] not in ("writes", "state_update"):
            continue
        if e["kind"] == "writes" and e["run_id"] in trace.update_runs:
            continue  # the update is judged by its state_update event
        node = e["payload"].get("as_node") if e["kind"] == "state_update" else trace.node(e)
        if node == "__start__":
            continue  # the graph's input, not a node's write
        channels = (
            list(e["payload"].get("values") or {})
            if e["kind"] == "state_update"
            else [w["channel"] for w in write_entries(e)]
        )
        update = e["kind"] == "state_update"
        for channel in dict.fromkeys(channels):
            owners = policy.owners.get(channel)
            # an update_state is an edit from outside the graph, whatever node it names
            if owners is not None and (update or node not in owners):
                who = f"update_state (as {node})" if update else f"node {node}"
                out.append(
                    finding_at(
                        "state.owner",
                        e,
                        f"{who} wrote {channel!r}, which only "
                        f"{', '.join(owners) or 'no node'} may write",
                        node=node,
                        channel=channel,
                        step=update_step(trace, e) if update else e.get("step"),
                    )
                )
    return out


def _checkpoint_changes(trace: Trace, run_ids: set[str]) -> list[Finding]:
    out: list[Finding] = []
    seen: Seen = ({}, {})
    for cp in trace.events:
        if cp["kind"] != "checkpoint" or cp["run_id"] not in run_ids:
            continue
        ns = cp["checkpoint_ns"] or ""
        parent_id = cp["payload"].get("parent_checkpoint_id")
        parent = trace.checkpoints.get((ns, parent_id)) if parent_id else None
        if parent is None or _steps_unsaved(parent, cp):
            continue
        old = user_channels(parent["payload"]["values"])
        new = user_channels(cp["payload"]["values"])
        writes = step_writes(trace, ns, parent_id or "", cp)
        for channel in sorted(old.keys() | new.keys()):
            before, after = old.get(channel), new.get(channel)
            if _same(before, after):
                continue
            written = writes.get(channel, [])
            if not written:
                why = "with no recorded write"
            elif not explained(before, after, written, seen):
                why = f"in a way its writes ({summary(written, 60)}) do not explain"
            else:
                continue
            out.append(
                finding_at(
                    RULE,
                    cp,
                    f"channel {channel!r} changed at step {cp['step']} {why}: "
                    f"{summary(before, 80)} -> {summary(after, 80)}",
                    channel=channel,
                    node=None,
                )
            )
    return out


def step_writes(trace: Trace, ns: str, parent_id: str, cp: Event) -> dict[str, list[Any]]:
    """Values written to each channel by the tasks of the step that produced ``cp``:
    the latest recorded writes of each task (a resumed or retried task writes again)."""
    latest: dict[tuple[str, str], list[Any]] = {}
    for e in trace.writes_at.get((ns, parent_id), []):
        if e["run_id"] != cp["run_id"] and e["gseq"] > cp["gseq"]:
            continue  # a later fork's writes
        per_channel: dict[str, list[Any]] = defaultdict(list)
        for w in write_entries(e):
            if not is_internal_channel(w["channel"]):
                per_channel[w["channel"]].append(w.get("value"))
        for channel, values in per_channel.items():
            latest[(e.get("task_id") or NULL_TASK, channel)] = values
    if cp["payload"].get("source") == "update":
        written = {channel for _task, channel in latest}
        for e in trace.by_run.get(cp["run_id"], []):
            if e["kind"] == "state_update":  # what the update's own writes do not show
                for channel, value in (e["payload"].get("values") or {}).items():
                    if channel not in written:
                        latest.setdefault(("state_update", channel), [value])
    out: dict[str, list[Any]] = defaultdict(list)
    for (_task, channel), values in latest.items():
        out[channel].extend(values)
    return out


Seen = tuple[Memo, Pairs]
"""One audit's normalized values and verdicts on pairs (see ``_json_same``)."""


def explained(old: Any, new: Any, writes: list[Any], seen: Seen | None = None) -> bool:
    """Whether ``new`` follows from ``old`` and ``writes`` under a known reducer."""
    if any(_json_same(w, new) for w in writes):
        return True
    if isinstance(new, list):
        base = old if isinstance(old, list) else []
        added = [x for w in writes for x in (w if isinstance(w, list) else [w])]
        if _json_same(new[: len(base)], base) and _bag(new[len(base) :]) == _bag(added):
            return True
        if any(is_message(m) for m in [*new, *added]):
            return _messages_explained(base, new, writes, seen or ({}, {}))
    if isinstance(new, int | float) and not isinstance(new, bool):
        nums = [w for w in [old or 0, *writes] if isinstance(w, int | float)]
        if len(nums) == len(writes) + 1 and abs(sum(nums) - new) < 1e-9:
            return True
    if isinstance(new, dict) and all(isinstance(w, dict) for w in writes):
        merged = dict(old) if isinstance(old, dict) else {}
        for w in writes:
            merged.update(w)
        return _json_same(merged, new)
    return False


def _messages_explained(base: list[Any], new: list[Any], writes: list[Any], seen: Seen) -> bool:
    merged = list(base)
    for w in writes:
        for item in w if isinstance(w, list) else [w]:
            m = as_message(item)
            if m is None:
                return False
            mid = m.get("id")
            if m.get("type") == "remove":
                merged = (
                    [] if mid == "__remove_all__" else [x for x in merged if x.get("id") != mid]
                )
                continue
            at = next((i for i, x in enumerate(merged) if mid and x.get("id") == mid), None)
            if at is None:
                merged.append(m)
            else:
                merged[at] = m
    memo, pairs = seen
    if _json_same(merged, new, pairs):
        return True
    normal_merged, normal_new = normalize(merged, memo), normalize(new, memo)
    if _json_same(normal_merged, normal_new, pairs):
        return True  # in the same order: the same bag
    return _bag(normal_merged) == _bag(normal_new)


def _same(a: Any, b: Any, pairs: Pairs | None = None) -> bool:
    """JSON equality (``True`` is not ``1``), with Python's ``==`` as the fast path."""
    if a is b:  # one stored value (one blob address): no need to look inside
        return True
    if isinstance(a, dict | list):
        return type(a) is type(b) and _json_same(a, b, pairs)
    return bool(a == b) and type(a) is type(b)


_EXACT = (str, int, bool, type(None))  # JSON scalars whose ``==`` is their text's


def _json_same(a: Any, b: Any, pairs: Pairs | None = None) -> bool:
    """``canonical(a) == canonical(b)``, without encoding what is shared: the views of
    one stored value are one object (``lgaudit.codec.decode``), two lists have the same
    text exactly when their elements have, in order, and two dicts when they have the
    same keys and each key's values have. ``pairs`` remembers the verdicts on pairs of
    lists and dicts (an audit meets the same elements at every step)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b) or not (kind is list or kind is dict):
        if kind is type(b) and kind in _EXACT:
            return bool(a == b)
        return canonical(a) == canonical(b)
    if pairs is not None:
        found = pairs.get((id(a), id(b)))
        if found is not None and found[0] is a and found[1] is b:
            return found[2]
    if kind is list:
        result = len(a) == len(b) and (
            all(map(operator.is_, a, b))
            or all(x is y or _json_same(x, y, pairs) for x, y in zip(a, b, strict=True))
        )
    else:
        result = a.keys() == b.keys() and all(_json_same(v, b[k], pairs) for k, v in a.items())
    if pairs is not None:
        pairs[(id(a), id(b))] = (a, b, result)
    return result


def _bag(items: list[Any]) -> Counter[str]:
    return Counter(canonical(x) for x in items)


def _stale_inputs(trace: Trace, run_ids: set[str]) -> list[Finding]:
    """Node inputs (and run outputs) that differ from the checkpoint they started from."""
    out: list[Finding] = []
    reported: set[tuple[str, str, str, str]] = set()
    memo: Memo = {}  # node inputs hold the elements of the states before them: each is
    pairs: Pairs = {}  # normalized once, and each pair compared once
    last_root: dict[str, Event] = {}
    for e in trace.events:
        if e["run_id"] not in run_ids:
            continue
        if e["kind"] == "checkpoint" and not e["checkpoint_ns"]:
            last_root[e["run_id"]] = e
        observed: tuple[Event | None, Any] | None = None
        if e["kind"] == "node_start" and _reads_state(e):
            observed = (_checkpoint_before(trace, e), e["payload"].get("input"))
        elif e["kind"] == "run_end" and e["run_id"] not in trace.update_runs:
            observed = (last_root.get(e["run_id"]), e["payload"].get("output"))
        if observed is None:
            continue
        before, seen_state = observed
        if before is None or not isinstance(seen_state, dict):
            continue
        cp = before
        stored = user_channels(cp["payload"]["values"])
        for channel, value in seen_state.items():
            if channel not in stored or is_internal_channel(channel):
                continue
            if _same(stored[channel], value, pairs):
                continue
            na, nb = normalize(stored[channel], memo), normalize(value, memo)
            if _json_same(na, nb, pairs):
                continue
            a, b = canonical(na), canonical(nb)
            key = (cp["checkpoint_ns"] or "", channel, a, b)
            if key in reported:
                continue
            reported.add(key)
            who = (
                f"node {e['node']} at step {e['step']}"
                if e["kind"] == "node_start"
                else ("the run's output")
            )
            suspects = _nodes_of_step(trace, cp)
            beside = _nodes_beside(trace, e) if e["kind"] == "node_start" else ""
            hint = f"nodes of step {cp['step']}: {suspects}" if suspects else ""
            if beside:
                hint += f"{'; ' if hint else ''}running beside it at step {e['step']}: {beside}"
            hint = f" (mutated in place? {hint})" if hint else ""
            out.append(
                finding_at(
                    RULE,
                    e,
                    f"{who} saw channel {channel!r} = {summary(value, 80)} but the "
                    f"checkpoint of step {cp['step']} holds {summary(stored[channel], 80)}, "
                    f"with no recorded write{hint}",
                    channel=channel,
                    step=e.get("step") if e["kind"] == "node_start" else cp["step"],
                )
            )
    return out


def _reads_state(e: Event) -> bool:
    path = e["payload"].get("path") or []
    return (
        bool(e.get("node"))
        and not str(e["node"]).startswith("__")
        and (not path or path[0] != "__pregel_push")
    )


def _checkpoint_before(trace: Trace, e: Event) -> Event | None:
    """The checkpoint a task's step started from (its writes name it)."""
    ns = e["checkpoint_ns"] or ""
    for t in trace.task_events.get(e.get("task_id") or "", []):
        if t["kind"] == "writes" and (t["checkpoint_ns"] or "") == ns:
            return trace.checkpoints.get((ns, t["checkpoint_id"]))
    candidates = [
        c
        for c in trace.events
        if c["kind"] == "checkpoint"
        and (c["checkpoint_ns"] or "") == ns
        and c["step"] == (e["step"] or 0) - 1
        and c["gseq"] < e["gseq"]
    ]
    return candidates[-1] if candidates else None


def _steps_unsaved(parent: Event, cp: Event) -> bool:
    """Whether steps between two checkpoints were not saved (LangGraph's
    ``durability="exit"``): their writes are not recorded, so a change cannot be judged."""
    a, b = parent.get("step"), cp.get("step")
    return isinstance(a, int) and isinstance(b, int) and b - a > 1


def _nodes_beside(trace: Trace, e: Event) -> str:
    """Other nodes of a task's own step (parallel branches): they may have changed a value
    it then read."""
    return _nodes_of_step(trace, e, besides=str(e["node"]))


def _nodes_of_step(trace: Trace, at: Event, besides: str | None = None) -> str:
    """The nodes that ran in the step of ``at`` (a checkpoint, or a node's start), in its
    namespace, other than ``besides``."""
    ns = at["checkpoint_ns"] or ""
    nodes = {
        str(e["node"])
        for e in trace.by_run.get(at["run_id"], [])
        if e["kind"] == "node_start"
        and (e["checkpoint_ns"] or "") == ns
        and e["step"] == at["step"]
        and e.get("node")
        and e["node"] != besides
    }
    return ", ".join(sorted(nodes))
