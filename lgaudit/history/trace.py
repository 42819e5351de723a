"""Recorded events as the audit reads them: expanded, indexed, and put in logical order.

A ``Trace`` holds the expanded events of one thread (every run of it, up to a point) or of
one thread-less run. Events are read through the ``Store`` API only. Checkpoint values are
rebuilt from the parent checkpoint plus the channels the checkpoint updated (the store is
asked only for a checkpoint whose parent is not in the trace), so a long run costs one
query per run, not one per checkpoint.

The recorder writes callback events inline and checkpointer events from LangGraph's
background writer, so the global order (``gseq``) of a step's writes and the next step's
node events can interleave. ``Trace.clock`` gives the order that means something: run,
then step, subgraph steps nested under the step of the task that ran the subgraph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from lgaudit.store import RunRecord, Store
from lgaudit.store.views import EventExpander, is_internal_channel, payload_refs

Event = dict[str, Any]
"""An expanded ``EventRecord`` (``payload`` with values, ``values`` on checkpoints)."""

NULL_TASK = "00000000-0000-0000-0000-000000000000"
RESUME = "__resume__"


class Trace:
    """Expanded events of one thread, in global order, with the indexes the rules need."""

    def __init__(
        self, runs: Iterable[RunRecord], events: list[Event], prior: list[Event] | None = None
    ) -> None:
        self.events = events
        #: for a replay's thread: the replayed thread's history up to the fork checkpoint
        #: (the approvals the replay starts from were given there)
        self.prior = prior or []
        self.runs: dict[str, RunRecord] = {r["run_id"]: r for r in runs}
        self.run_order: dict[str, int] = {}
        self.by_run: dict[str, list[Event]] = defaultdict(list)
        self.checkpoints: dict[tuple[str, str], Event] = {}
        self.writes_at: dict[tuple[str, str], list[Event]] = defaultdict(list)
        self.task_events: dict[str, list[Event]] = defaultdict(list)
        self.task_step: dict[str, int] = {}
        self.task_node: dict[str, str] = {}
        self.update_runs: set[str] = set()
        for e in events:
            self.run_order.setdefault(e["run_id"], len(self.run_order))
            self.by_run[e["run_id"]].append(e)
            kind, task = e["kind"], e.get("task_id")
            if kind == "checkpoint":
                self.checkpoints[(e["checkpoint_ns"] or "", e["checkpoint_id"])] = e
            elif kind == "writes":
                self.writes_at[(e["checkpoint_ns"] or "", e["checkpoint_id"])].append(e)
            elif kind == "state_update":
                self.update_runs.add(e["run_id"])
            if task:
                self.task_events[task].append(e)
                if isinstance(e.get("step"), int):
                    self.task_step.setdefault(task, e["step"])
                node = node_of(e)
                if node:
                    self.task_node.setdefault(task, node)

    def node(self, e: Event) -> str | None:
        """The node an event belongs to (writes events name it through their task)."""
        return node_of(e) or self.task_node.get(e.get("task_id") or "")

    def clock(self, e: Event) -> tuple[int, ...]:
        """Logical time: run order, then the step path through nested namespaces."""
        out = [self.run_order.get(e["run_id"], 0)]
        ns = e.get("checkpoint_ns") or ""
        for part in ns.split("|") if ns else []:
            task = part.rsplit(":", 1)[-1]
            out.append(self.task_step.get(task, -1))
        step = e.get("step")
        out.append(step if isinstance(step, int) else -1)
        return tuple(out)

    def values(self, ns: str, checkpoint_id: str | None) -> dict[str, Any] | None:
        cp = self.checkpoints.get((ns, checkpoint_id or ""))
        return cp["payload"]["values"] if cp else None


def node_of(e: Event) -> str | None:
    """The node named by an event, else by its task path (``~__pregel_pull, NODE``)."""
    if e.get("node"):
        return str(e["node"])
    path = (e.get("payload") or {}).get("task_path") or ""
    parts = [p.strip() for p in path.split(",")]
    if len(parts) >= 2 and parts[0] == "~__pregel_pull":
        return parts[1]
    return None


def update_step(trace: Trace, e: Event) -> Any:
    """The step of the checkpoint an ``update_state`` (its ``state_update`` event) made."""
    return next(
        (
            cp["step"]
            for cp in trace.by_run.get(e["run_id"], [])
            if cp["kind"] == "checkpoint" and cp["payload"].get("source") == "update"
        ),
        e.get("step"),
    )


def write_entries(e: Event) -> list[dict[str, Any]]:
    return list((e.get("payload") or {}).get("writes") or [])


def user_channels(values: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (values or {}).items() if not is_internal_channel(k)}


class TraceLoader:
    """Loads traces from a store, expanding values once (blobs are content-addressed)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.expander = EventExpander(store)

    def thread(self, thread_id: str, upto_gseq: int | None = None) -> Trace:
        events = self.store.thread_events(thread_id, upto_gseq=upto_gseq)
        run_ids = list(dict.fromkeys(e["run_id"] for e in events))
        runs = self.store.runs(run_ids=run_ids, limit=None)
        first = next((r for r in runs if r["run_id"] == run_ids[0]), None) if run_ids else None
        return Trace(runs, self.expand(events), self._fork_history(first))

    def _fork_history(self, run: RunRecord | None, depth: int = 0) -> list[Event]:
        """For a replay: its source thread's events up to the checkpoint it forked from
        (and, for a replay of a replay, that one's history before them)."""
        spec = (run.get("replay") if run else None) or {}
        source, fork = spec.get("source_thread_id"), spec.get("from_checkpoint")
        if not source or not fork or depth > 20:
            return []
        events = self.store.thread_events(source)
        cut = next(
            (
                i
                for i, e in enumerate(events)
                if e["kind"] == "checkpoint"
                and e["checkpoint_id"] == fork
                and (e["checkpoint_ns"] or "") == (spec.get("checkpoint_ns") or "")
            ),
            None,
        )
        if cut is None:
            return []
        fork_cp = events[cut]
        # the fork's run went on past its checkpoint before that was saved (LangGraph saves
        # in the background): what came after it logically starts with the next root step
        after = next(
            (
                e["gseq"]
                for e in events
                if e["run_id"] == fork_cp["run_id"]
                and e["kind"] == "node_start"
                and not e["checkpoint_ns"]
                and isinstance(e["step"], int)
                and isinstance(fork_cp["step"], int)
                and e["step"] > fork_cp["step"]
            ),
            None,
        )
        kept = [
            e
            for e in events[: cut + 1]
            if after is None or e["run_id"] != fork_cp["run_id"] or e["gseq"] < after
        ]
        first = self.store.runs(run_ids=[events[0]["run_id"]], limit=None)
        earlier = self._fork_history(first[0] if first else None, depth + 1)
        return earlier + self.expand(kept)

    def run(self, run_ref: str) -> Trace:
        run = self.store.run(run_ref)
        return Trace([run], self.expand(self.store.events(run["run_id"])))

    def run_in_thread(self, run_ref: str) -> tuple[RunRecord, Trace]:
        """A run and its thread's history up to the run's last event."""
        run = self.store.run(run_ref)
        own = self.store.events(run["run_id"])
        if not run["thread_id"] or not own:
            return run, Trace([run], self.expand(own))
        return run, self.thread(run["thread_id"], upto_gseq=own[-1]["gseq"])

    def expand(self, events: list[Any]) -> list[Event]:
        refs: list[str] = []
        for stored in events:
            payload_refs(stored["payload"], refs)
        self.expander.preload(refs)
        out: list[Event] = []
        known: dict[tuple[str, str, str], dict[str, Any]] = {}
        for event in events:
            if event["kind"] != "checkpoint":
                out.append(self.expander.expand(event))
                continue
            e: Event = dict(event)
            payload = self.expander.refs(event["payload"])
            ns = event["checkpoint_ns"] or ""
            thread = event["thread_id"] or ""
            parent = known.get((thread, ns, payload.get("parent_checkpoint_id") or ""))
            if parent is not None or not payload.get("parent_checkpoint_id"):
                values = dict(parent or {})
                for ch, ref in (payload.get("value_refs") or {}).items():
                    if not is_internal_channel(ch):
                        values[ch] = self.expander.value(ref)
                payload["values"] = dict(sorted(values.items()))
            else:
                payload["values"] = self.expander.expand(event)["payload"]["values"]
            known[(thread, ns, event["checkpoint_id"])] = payload["values"]
            e["payload"] = payload
            out.append(e)
        return out
