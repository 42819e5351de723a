"""``diff(store, a, b)``: two runs aligned step by step, and where they first diverge.

Steps are aligned by namespace and step number; inside a step, tasks by node and task path,
``Send`` tasks as an unordered set (matched by their input). Each aligned step is compared
in causal order — route (which nodes ran), approval (interrupts and resumes), model calls,
tool calls, errors, then the state the step produced — so the first divergence names the
cause, not its consequences. Volatile fields (ids, timestamps, hashes, message ids that
were generated at random) never count; see ``lgaudit.history.normalize``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lgaudit.audit.memory import memory_view
from lgaudit.history.deep import Pairs, differences
from lgaudit.history.lineage import branch_between
from lgaudit.history.normalize import Memo, canonical, comparable_pair, normalize
from lgaudit.history.steps import StepView, TaskView, run_steps
from lgaudit.history.trace import TraceLoader
from lgaudit.store import RunRecord, Store

KINDS = ("route", "approval", "memory", "llm", "tool", "error", "state")
"""Divergence kinds, in the causal order used to pick a step's first divergence (memory
reads come before model calls; memory writes, which follow from them, after tool calls)."""


@dataclass(frozen=True)
class RunDiff:
    """The result of ``diff``; ``to_json()`` is what ``lgaudit diff --json`` prints.

    ``first_divergence`` is ``None`` for identical runs, else ``{"step", "node", "kind",
    "path", "a", "b"}``; ``steps`` has one entry per aligned step: ``step``, ``namespace``,
    ``status`` (``same|different|only_a|only_b``), ``nodes`` and ``tokens`` of each side,
    and its ``differences`` (each ``{"kind", "node", "path", "a", "b"}``).
    """

    run_a: str
    run_b: str
    identical: bool
    first_divergence: dict[str, Any] | None
    steps: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    fork_step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "first_divergence": self.first_divergence,
            "steps": list(self.steps),
        }


def diff(store: Store, a: str, b: str, *, ignore: Sequence[str] = ()) -> RunDiff:
    """Compare run ``b`` with run ``a`` (run ids or unique prefixes).

    ``ignore`` holds paths (``state.output``, ``llm``, glob patterns like
    ``state.*.created``) whose differences do not count. A replay diffed against its parent
    is compared from its fork point (the parent's earlier steps are not compared), and so
    is a run LangGraph's time travel made from the other's checkpoint (``invoke`` from an
    old checkpoint, ``update_state`` then ``invoke``: see ``lgaudit.history.lineage``).
    """
    loader = TraceLoader(store)
    trace_a, trace_b = loader.run(a), loader.run(b)
    run_a = next(iter(trace_a.runs.values()))
    run_b = next(iter(trace_b.runs.values()))
    fork = fork_step(run_a, run_b, trace_a.events)
    replayed = run_b
    if fork is None:  # ``a`` may be the replay of ``b``: compare from its fork point too
        fork, replayed = fork_step(run_b, run_a, trace_b.events), run_a
    branch = None
    if fork is None and run_a["thread_id"] and run_a["thread_id"] == run_b["thread_id"]:
        # LangGraph's own time travel: runs on two branches of the thread's checkpoints
        branch = branch_between(loader, trace_a, run_a["run_id"], trace_b, run_b["run_id"])
        fork = branch.fork_step if branch is not None else None
    steps_a = run_steps(
        trace_a, run_a["run_id"], shifted=(branch.fork_step, branch.shift_a) if branch else None
    )
    steps_b = run_steps(
        trace_b, run_b["run_id"], shifted=(branch.fork_step, branch.shift_b) if branch else None
    )
    entries: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    start: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None
    if fork is not None and (replayed.get("replay") or {}).get("patch") is not None:
        start = (_state_at(steps_a, fork), _state_at(steps_b, fork))
    elif branch is not None and branch.updated:
        start = (branch.state_a, branch.state_b)
    if start is not None and fork is not None:
        # what the patch or update changed, at the step it was applied to
        entry = _patched(*start, fork, ignore)
        if entry is not None:
            entries.append(entry)
            first = {"step": fork, **{k: entry["differences"][0][k] for k in _FIRST}}
    if fork is not None:
        # the replay re-executed what came after its checkpoint: compare only that
        ns = (replayed.get("replay") or {}).get("checkpoint_ns") or ""
        source = trace_a if replayed is run_b else trace_b
        path = tuple(
            source.task_step.get(part.rsplit(":", 1)[-1], -1) for part in ns.split("|") if part
        ) + (fork,)
        steps_a = [s for s in steps_a if not _before_fork(s.clock, path)]
        steps_b = [s for s in steps_b if not _before_fork(s.clock, path)]
    seen = Seen()
    for sa, sb in align(steps_a, steps_b):
        found = [d for d in compare_steps(sa, sb, seen) if not ignored(d["path"], ignore)]
        ref = sa or sb
        assert ref is not None
        entry = {
            "step": ref.step,
            "namespace": ref.namespace,
            "status": "only_b"
            if sa is None
            else "only_a"
            if sb is None
            else "different"
            if found
            else "same",
            "nodes": {"a": sa.nodes if sa else None, "b": sb.nodes if sb else None},
            "tokens": _tokens(sa, sb),
            "differences": found,
        }
        entries.append(entry)
        if found and first is None:
            first = {
                "step": ref.step,
                **{k: found[0][k] for k in _FIRST},
            }
    end = _outcome(run_a, run_b, trace_a.events, trace_b.events)
    if end is not None and not ignored(end["path"], ignore):
        last = entries[-1] if entries else None
        if last is None:
            last = {
                "step": None,
                "namespace": "",
                "status": "different",
                "nodes": {},
                "tokens": {"a": 0, "b": 0, "delta": 0},
                "differences": [],
            }
            entries.append(last)
        last["differences"].append(end)
        last["status"] = "different" if last["status"] == "same" else last["status"]
        if first is None:
            first = {
                "step": last["step"],
                **{k: end[k] for k in _FIRST},
            }
    return RunDiff(run_a["run_id"], run_b["run_id"], first is None, first, tuple(entries), fork)


_FIRST = ("node", "kind", "path", "a", "b")


def _state_at(steps: list[StepView], step: int) -> dict[str, Any] | None:
    return next((s.state for s in steps if s.key == ("", step)), None)


def _patched(
    state_a: dict[str, Any] | None,
    state_b: dict[str, Any] | None,
    fork: int,
    ignore: Sequence[str],
) -> dict[str, Any] | None:
    """The state differences a patched replay or an updated branch starts from (the state
    at its fork step), as an entry of the fork step; ``None`` if they changed nothing."""
    if state_a is None or state_b is None:
        return None
    va, vb = comparable_pair(state_a, state_b)
    found = [
        _d("state", None, path, x, y)
        for path, x, y in differences(va, vb, "state")
        if not ignored(path, ignore)
    ]
    if not found:
        return None
    return {
        "step": fork,
        "namespace": "",
        "status": "different",
        "nodes": {"a": [], "b": []},
        "tokens": {"a": 0, "b": 0, "delta": 0},
        "differences": found,
    }


def _before_fork(clock: tuple[int, ...], fork: tuple[int, ...]) -> bool:
    """Whether a step (its clock without the run order) is at or before the fork point."""
    c = clock[1:]
    n = min(len(c), len(fork))
    return c[:n] < fork[:n] if len(c) < len(fork) else c[:n] <= fork


def fork_step(run_a: RunRecord, run_b: RunRecord, events_a: list[dict[str, Any]]) -> int | None:
    """For ``b`` a replay of ``a``: the step of the checkpoint it was replayed from."""
    spec = run_b.get("replay") or {}
    if run_b.get("parent_run_id") != run_a["run_id"] or not spec:
        return None
    if isinstance(spec.get("from_step"), int):
        return int(spec["from_step"])
    target = spec.get("from_checkpoint")
    for e in events_a:
        if e["kind"] == "checkpoint" and e["checkpoint_id"] == target and not e["checkpoint_ns"]:
            return int(e["step"])
    return None


def align(
    steps_a: list[StepView], steps_b: list[StepView]
) -> list[tuple[StepView | None, StepView | None]]:
    by_b = {s.key: s for s in steps_b}
    pairs: list[tuple[StepView | None, StepView | None]] = [
        (s, by_b.pop(s.key, None)) for s in steps_a
    ]
    pairs += [(None, s) for s in steps_b if s.key in by_b]
    order = {id(s): i for i, s in enumerate(steps_b)}

    def position(pair: tuple[StepView | None, StepView | None]) -> tuple[Any, ...]:
        step = pair[0] or pair[1]
        assert step is not None
        return (step.clock[1:], step.namespace, order.get(id(pair[1]), 0))

    return sorted(pairs, key=position)


@dataclass
class Seen:
    """What one comparison of two runs has normalized and compared so far: stored values
    are shared by blob address (``lgaudit.codec.decode``), so each is normalized once and
    each pair of values compared once, however many steps hold them."""

    memo: Memo = field(default_factory=dict)
    pairs: Pairs = field(default_factory=dict)


def compare_steps(
    sa: StepView | None, sb: StepView | None, seen: Seen | None = None
) -> list[dict[str, Any]]:
    """Differences of one aligned step, cause first (``KINDS`` order).

    Channels that hold the same stored value on both sides (one blob address, so one
    view) are not compared at all; nor are values normalized twice (``seen``).

    A Functional API step (an entrypoint calling ``@task``s, all in one super-step) is
    ordered by its tasks instead, in the order they were called: what a task did comes
    before the tasks called after it, whether they differ or ran on one side only."""
    nodes_a = sa.nodes if sa else []
    nodes_b = sb.nodes if sb else []
    out: list[tuple[int, dict[str, Any]]] = []
    if nodes_a != nodes_b:
        missing = [n for n in nodes_a if n not in nodes_b] or [
            n for n in nodes_b if n not in nodes_a
        ]
        node = _first(missing or nodes_a or nodes_b)
        route = _d("route", node, "nodes", nodes_a if sa else None, nodes_b if sb else None)
        out.append((_called_at(sa, node, sb), route))
    if sa is None or sb is None:
        return [d for _, d in out]
    seen = seen or Seen()
    for ta, tb in pair_tasks(sa.tasks, sb.tasks):
        out += [(_called_at(sa, ta.node, sb), d) for d in compare_tasks(ta, tb, seen)]
    if sa.state is not None and sb.state is not None:
        writers = _writers(sa, sb)
        state_a, state_b = _unshared(sa.state, sb.state)
        va, vb = comparable_pair(state_a, state_b, seen.memo)
        for path, x, y in differences(va, vb, "state", seen.pairs):
            channel = path.split(".")[1].split("[")[0] if "." in path else ""
            out.append((0, _d("state", writers.get(channel) or _first(sb.nodes), path, x, y)))
    return [d for _, d in sorted(out, key=lambda o: (o[0], _rank(o[1])))]


def _rank(d: dict[str, Any]) -> float:
    if d["kind"] == "memory" and d["path"].startswith("memory.writes"):
        return KINDS.index("tool") + 0.5
    return KINDS.index(d["kind"])


def _called_at(sa: StepView | None, node: str | None, sb: StepView | None) -> int:
    """Where a task was called in a Functional API step, the entrypoint (which returns
    after its tasks) last; 0 in any other step."""
    for step in (sa, sb):
        tasks = step.tasks if step is not None else []
        if any(t.called for t in tasks):
            for i, t in enumerate(tasks):
                if t.node == node:
                    return i if t.called else len(tasks)
    return 0


def pair_tasks(tasks_a: list[TaskView], tasks_b: list[TaskView]) -> list[tuple[TaskView, TaskView]]:
    """Tasks matched by node and path; ``Send`` tasks by their input, as a set."""
    pairs: list[tuple[TaskView, TaskView]] = []
    rest_b = list(tasks_b)
    for ta in sorted(tasks_a, key=lambda t: not t.push):
        candidates = [t for t in rest_b if t.node == ta.node and t.push == ta.push]
        if not ta.push:
            candidates = [t for t in candidates if t.path == ta.path] or candidates
        else:
            same = [
                t
                for t in candidates
                if canonical(normalize(t.input)) == canonical(normalize(ta.input))
            ]
            candidates = same or candidates
        if candidates:
            rest_b.remove(candidates[0])
            pairs.append((ta, candidates[0]))
    return pairs


def _unshared(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two states without the channels both hold the same view of (one blob address):
    they cannot differ, and leaving them out changes no other channel's comparison."""
    shared = [k for k, v in a.items() if k in b and b[k] is v]
    if not shared:
        return a, b
    return (
        {k: v for k, v in a.items() if k not in shared},
        {k: v for k, v in b.items() if k not in shared},
    )


def compare_tasks(ta: TaskView, tb: TaskView, seen: Seen | None = None) -> list[dict[str, Any]]:
    seen = seen or Seen()
    out: list[dict[str, Any]] = []
    views: list[tuple[str, str, Any, Any]] = [
        ("approval", "interrupts", ta.interrupts, tb.interrupts),
        ("approval", "resumes", ta.resumes, tb.resumes),
        ("llm", "llm", [_llm(c) for c in ta.llm], [_llm(c) for c in tb.llm]),
        ("tool", "tool", [_tool(c) for c in ta.tools], [_tool(c) for c in tb.tools]),
        ("memory", "memory.reads", _memory(ta, "memory_read"), _memory(tb, "memory_read")),
        ("memory", "memory.writes", _memory(ta, "memory_write"), _memory(tb, "memory_write")),
        ("error", "error", ta.errors, tb.errors),
        ("state", "return", ta.returned, tb.returned),
    ]
    if ta.push:
        views.insert(0, ("route", "send", ta.input, tb.input))
    for kind, prefix, va, vb in views:
        na, nb = comparable_pair(va, vb, seen.memo)
        for path, x, y in differences(na, nb, prefix, seen.pairs):
            out.append(_d(kind, ta.node, path, x, y))
    return out


def ignored(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` is at or under an ignored path (``*`` matches anything, so
    ``llm[*].output`` ignores every model output)."""
    for p in patterns:
        rx = re.escape(p).replace(r"\*", ".*")
        if re.fullmatch(rx + r"([.\[].*)?", path):
            return True
    return False


def _llm(call: dict[str, Any]) -> dict[str, Any]:
    return {k: call.get(k) for k in ("model", "params", "input", "output", "error")}


def _memory(task: TaskView, kind: str) -> list[dict[str, Any]]:
    return [
        memory_view({k: v for k, v in op.items() if k != "kind"})
        for op in task.memory
        if op["kind"] == kind
    ]


def _tool(call: dict[str, Any]) -> dict[str, Any]:
    return {k: call.get(k) for k in ("tool", "input", "output", "error")}


def _d(kind: str, node: str | None, path: str, a: Any, b: Any) -> dict[str, Any]:
    return {"kind": kind, "node": node, "path": path, "a": a, "b": b}


def _first(items: list[Any]) -> str | None:
    return items[0] if items else None


def _writers(sa: StepView, sb: StepView) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in [*sb.tasks, *sa.tasks]:
        for channel in t.writes:
            out.setdefault(channel, t.node)
    return out


def _tokens(sa: StepView | None, sb: StepView | None) -> dict[str, int]:
    ta, tb = (sa.tokens if sa else 0), (sb.tokens if sb else 0)
    return {"a": ta, "b": tb, "delta": tb - ta}


def _outcome(
    run_a: RunRecord,
    run_b: RunRecord,
    events_a: list[dict[str, Any]],
    events_b: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """A difference in how the runs ended (status, run error), if any."""

    def end(run: RunRecord, events: list[dict[str, Any]]) -> dict[str, Any]:
        errors = [e["payload"].get("error") for e in events if e["kind"] == "run_error"]
        return {"status": run["status"], "error": errors[-1] if errors else None}

    ea, eb = end(run_a, events_a), end(run_b, events_b)
    if ea == eb:
        return None
    failed = [e.get("node") for e in [*events_b, *events_a] if e["kind"] == "node_error"]
    return _d("error", _first(failed), "run", ea, eb)
