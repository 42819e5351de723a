"""A run as a list of steps: the tasks of each super-step and the state it produced.

This is the shape both ``diff`` (aligns two runs step by step) and the HTML report (the
timeline) read. Subgraph steps get their own entries, labelled by the subgraph's node
path (``sub``, ``sub|inner``) and numbered when one subgraph ran several times.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lgaudit.history.trace import NULL_TASK, RESUME, Event, Trace, node_of, user_channels
from lgaudit.store.views import is_internal_channel

_RETURNS = ("__return__", "__end__")  # a ``@task``'s result, an ``@entrypoint``'s


@dataclass
class TaskView:
    """One node execution (all attempts) with its model and tool calls."""

    task_id: str
    node: str
    path: tuple[str, ...]
    input: Any = None
    llm: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    interrupts: list[Any] = field(default_factory=list)
    #: long-term memory operations, in order (``memory_read``/``memory_write`` payloads)
    memory: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[Any] = field(default_factory=list)
    writes: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    returned: list[Any] = field(default_factory=list)
    """What a Functional API task or entrypoint returned (its graph has no state keys)."""
    attempts: int = 1
    first_seq: int = 0

    @property
    def push(self) -> bool:
        """A ``Send`` task (matched as an unordered set, not by path)."""
        return bool(self.path) and self.path[0] == "__pregel_push"

    @property
    def called(self) -> bool:
        """A Functional API ``@task`` call (a ``Send``-like task its caller waits on)."""
        return self.push and self.path[-1:] == ("True",)

    @property
    def tokens(self) -> int:
        return sum(int((c.get("usage") or {}).get("total_tokens") or 0) for c in self.llm)


@dataclass
class StepView:
    """One super-step of one namespace of a run."""

    namespace: str
    step: int
    clock: tuple[int, ...]
    tasks: list[TaskView] = field(default_factory=list)
    state: dict[str, Any] | None = None
    checkpoint_seq: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.namespace, self.step)

    @property
    def nodes(self) -> list[str]:
        return sorted(t.node for t in self.tasks if not t.node.startswith("__"))

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.tasks)


def namespace_labels(events: list[Event]) -> dict[str, str]:
    """Raw checkpoint namespaces (with task ids) -> stable labels (node paths)."""
    labels: dict[str, str] = {"": ""}
    seen: dict[str, int] = defaultdict(int)
    for e in events:
        ns = e.get("checkpoint_ns") or ""
        if ns in labels:
            continue
        base = "|".join(part.split(":", 1)[0] for part in ns.split("|"))
        seen[base] += 1
        labels[ns] = base if seen[base] == 1 else f"{base}#{seen[base]}"
    return labels


def run_steps(
    trace: Trace, run_id: str, *, shifted: tuple[int, int] | None = None
) -> list[StepView]:
    """The steps of one run, in logical order.

    ``shifted`` is ``(fork_step, shift)`` for a run whose top-level steps after
    ``fork_step`` run ``shift`` steps ahead of the run it branched from (a fork or an
    update is a step of its own): they are numbered as that run's. A replay's own spec
    says so (``step_shift``) when ``shifted`` is not given.
    """
    events = trace.by_run.get(run_id, [])
    labels = namespace_labels(events)
    steps: dict[tuple[str, int], StepView] = {}
    tasks: dict[str, TaskView] = {}

    run = trace.runs.get(run_id)
    replay = (run.get("replay") if run else None) or {}
    forked_at, shift = shifted or (replay.get("from_step"), int(replay.get("step_shift") or 0))

    def step_of(e: Event) -> StepView:
        step, clock = e["step"], trace.clock(e)
        if shift and isinstance(forked_at, int):
            if not e.get("checkpoint_ns") and step > forked_at:
                step -= shift  # the patch's own step is the fork's: it shows as its state
            if len(clock) > 1 and clock[1] > forked_at:  # the top-level step it is under
                clock = (clock[0], clock[1] - shift, *clock[2:])
        key = (labels[e.get("checkpoint_ns") or ""], step)
        if key not in steps:
            steps[key] = StepView(key[0], key[1], clock)
        return steps[key]

    pending_llm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    pending_tool: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        kind, p, task_id = e["kind"], e["payload"], e.get("task_id") or ""
        if kind == "checkpoint" and isinstance(e.get("step"), int) and e["step"] >= 0:
            view = step_of(e)
            view.state = user_channels(p.get("values"))
            view.checkpoint_seq = e["seq"]
            continue
        if kind == "node_start" and isinstance(e.get("step"), int):
            if task_id in tasks:
                tasks[task_id].attempts += 1
                continue
            task = TaskView(
                task_id,
                node_of(e) or "?",
                tuple(p.get("path") or ()),
                input=p.get("input"),
                first_seq=e["seq"],
            )
            tasks[task_id] = task
            step_of(e).tasks.append(task)
            continue
        found = tasks.get(task_id)
        if found is None:
            continue
        task = found
        if kind == "llm_start":
            call = {"model": p.get("model"), "params": p.get("params"), "input": p.get("messages")}
            task.llm.append(call)
            pending_llm[task_id].append(call)
        elif kind in ("llm_end", "llm_error"):
            call = pending_llm[task_id].pop(0) if pending_llm[task_id] else {}
            if not call:
                task.llm.append(call)
            call.update(
                model=p.get("model"),
                output=p.get("generations"),
                error=p.get("error"),
                usage=p.get("usage"),
            )
        elif kind == "tool_start":
            call = {"tool": p.get("tool"), "input": p.get("input")}
            task.tools.append(call)
            pending_tool[task_id].append(call)
        elif kind in ("tool_end", "tool_error"):
            call = pending_tool[task_id].pop(0) if pending_tool[task_id] else {}
            if not call:
                task.tools.append(call)
            call.update(tool=p.get("tool"), output=p.get("output"), error=p.get("error"))
        elif kind == "node_error":
            task.errors.append(p.get("error") or {})
        elif kind in ("memory_read", "memory_write"):
            task.memory.append({"kind": kind, **p})
        elif kind == "interrupt":
            task.interrupts.append(p.get("value"))
        elif kind == "writes" and task_id != NULL_TASK:
            for w in p.get("writes") or []:
                if w["channel"] == RESUME:
                    task.resumes = list(w.get("value") or [])
                elif w["channel"] in _RETURNS:
                    task.returned.append(w.get("value"))
                elif not is_internal_channel(w["channel"]):
                    task.writes[w["channel"]].append(w.get("value"))
    return sorted(steps.values(), key=lambda s: (s.clock, s.namespace))
