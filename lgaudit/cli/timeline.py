"""Plain-text renderings of runs, timelines and checkpoint lists for the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any


def _compact(value: Any) -> Any:
    """Messages shown by their content (and tool calls), not every field."""
    if isinstance(value, dict) and "content" in value and "type" in value:
        calls = value.get("tool_calls")
        if calls:
            return {"tool_calls": [{c.get("name"): c.get("args")} for c in calls]}
        return value["content"]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def short(value: Any, width: int = 80) -> str:
    value = _compact(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def graph_label(run: Mapping[str, Any]) -> str:
    """A run's graph as ``runs`` and ``show`` print it, never cut: its name, and the import
    path a replay takes (``--graph module:attr``) when it is known and differs."""
    name, ref = run["graph"] or "-", run.get("graph_ref")
    return name if not ref or ref == name else f"{name} ({ref})"


def render_runs(
    records: Sequence[dict[str, Any]],
    *,
    more: int = 0,
    limit: int = 50,
    filtered: bool = False,
    capped: bool = False,
) -> str:
    """The table of ``lgaudit runs``: graph names whole (the last column), and how many
    runs the limit left out."""
    if not records:
        return "no runs match these filters" if filtered else "no runs recorded"
    thread_width = min(max(len(r["thread_id"] or "-") for r in records), _THREAD_MAX)
    thread_width = max(thread_width, len("THREAD"))
    lines = [
        f"{'RUN':<12}  {'STATUS':<11}  {'KIND':<8}  {'EVENTS':>6}  {'TOKENS':>7}  "
        f"{'STARTED':<27}  {'THREAD':<{thread_width}}  GRAPH"
    ]
    for r in records:
        lines.append(
            f"{r['run_id'][:12]:<12}  {r['status']:<11}  {r.get('kind') or '-':<8}  "
            f"{r['event_count']:>6}  {r['tokens']:>7}  {r['started_at']:<27}  "
            f"{_cut_middle(r['thread_id'] or '-', thread_width):<{thread_width}}  "
            f"{graph_label(r)}"
        )
    if more:
        runs = "run" if more == 1 else "runs"
        least = "at least " if capped else ""
        lines.append(f"… {least}{more} more {runs}; --limit {limit + more} to see them")
    return "\n".join(lines)


_THREAD_MAX = 30


def _cut_middle(text: str, width: int) -> str:
    """``text`` in ``width`` characters: its start and its end (where replay threads say
    which replay they are) kept."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _describe(e: dict[str, Any]) -> str | None:
    kind, p = e["kind"], e["payload"]
    node = e.get("node") or "-"
    if kind == "node_start":
        retry = f" (attempt {p.get('attempt')})" if (p.get("attempt") or 1) > 1 else ""
        return f"node {node} started{retry}"
    if kind == "node_end":
        status = p.get("status")
        return f"node {node} {status}" if status else f"node {node} -> {short(p.get('output'), 60)}"
    if kind == "node_error":
        err = p.get("error") or {}
        tag = " [injected]" if err.get("injected") else ""
        return f"node {node} ERROR {err.get('type')}: {short(err.get('message'), 60)}{tag}"
    if kind == "llm_start":
        return f"llm {p.get('model')} called"
    if kind == "llm_end":
        u = p.get("usage") or {}
        return (
            f"llm {p.get('model')} answered ({u.get('input_tokens', 0)} in / "
            f"{u.get('output_tokens', 0)} out tokens): {short(p.get('generations'), 50)}"
        )
    if kind == "llm_error":
        return f"llm {p.get('model')} ERROR {short(p.get('error'), 60)}"
    if kind == "tool_start":
        return f"tool {p.get('tool')}({short(p.get('input'), 50)})"
    if kind == "tool_end":
        return f"tool {p.get('tool')} -> {short(p.get('output'), 60)}"
    if kind == "tool_error":
        return f"tool {p.get('tool')} ERROR {short(p.get('error'), 60)}"
    if kind == "interrupt":
        return f"INTERRUPT at {node}: {short(p.get('value'), 60)}"
    if kind == "resume":
        return f"RESUME with {short(p.get('value'), 60)}"
    if kind == "state_update":
        return f"state updated as {p.get('as_node')}: {short(p.get('values'), 60)}"
    if kind == "checkpoint":
        ns = f" ns={e['checkpoint_ns']}" if e.get("checkpoint_ns") else ""
        return f"checkpoint {e['checkpoint_id']} ({p.get('source')}){ns}"
    if kind == "delete":
        return f"thread {p.get('thread_id')} deleted (tombstone)"
    if kind in ("memory_read", "memory_write"):
        from lgaudit.audit.memory import describe_memory, memory_data

        return f"memory {describe_memory(p)} -> {short(memory_data(p), 50)}"
    if kind == "custom":
        return f"custom {p.get('name')}: {short(p.get('data'), 60)}"
    if kind == "run_error":
        err = p.get("error") or {}
        return f"RUN FAILED {err.get('type')}: {short(err.get('message'), 70)}"
    if kind == "run_end":
        return f"run {p.get('status')}"
    if kind == "run_start":
        return f"run started ({p.get('operation') or 'invoke'})"
    return None  # writes are shown through their checkpoints


def render_timeline(r: Mapping[str, Any], events: Iterable[dict[str, Any]]) -> str:
    """The text of ``lgaudit show``: the run, its events by step, the command that replays
    it and its last event's hash."""
    last: list[str] = []
    lines = [
        f"run {r['run_id']}  thread {r['thread_id']}  graph {graph_label(r)}  status {r['status']}",
        f"    {r['event_count']} events, {r['tokens']} tokens, started {r['started_at']}"
        + (f", ended {r['ended_at']}" if r["ended_at"] else "")
        + (f", environment {r['environment']}" if r["environment"] else ""),
    ]
    if r.get("parent_run_id"):
        lines.append(f"    replay of {r['parent_run_id']}")
    last_step: object = object()
    for step, text in _by_step(_noting_hash(events, last)):
        label = f"step {step:>3}" if isinstance(step, int) else "        "
        if step == last_step:
            label = " " * len(label)
        last_step = step
        lines.append(f"  {label}  {text}")
    graph = f"--graph {r['graph_ref']}" if r.get("graph_ref") else "--graph MODULE:ATTR"
    lines.append(f"replay: lgaudit replay {r['run_id']} {graph}")
    if not r.get("graph_ref"):
        lines.append(
            f"    (where {r['graph'] or 'the graph'} is importable from was not found when it ran)"
        )
    if last:
        lines.append(f"last event hash: {last[0]}")
    return "\n".join(lines)


def _noting_hash(events: Iterable[dict[str, Any]], last: list[str]) -> Iterator[dict[str, Any]]:
    """The events, keeping the newest one's hash in ``last``."""
    for e in events:
        last[:] = [e["hash"]]
        yield e


def _by_step(events: Iterable[dict[str, Any]]) -> list[tuple[Any, str]]:
    """Each described event's ``(step, text)`` in step order (checkpoints may be recorded
    after the next step started): only the text of an event is kept, not its values."""
    keyed: list[tuple[float, Any, str]] = []
    current = -2
    for e in events:
        if e["kind"] == "run_start":
            key = float("-inf")
        elif e["kind"] in ("run_end", "run_error"):
            key = float("inf")
        else:
            current = e["step"] if isinstance(e.get("step"), int) else current
            key = current
        text = _describe(e)
        if text is not None:
            keyed.append((key, e.get("step"), text))
    return [(step, text) for _, step, text in sorted(keyed, key=lambda item: item[0])]


def render_checkpoints(items: Sequence[dict[str, Any]]) -> str:
    if not items:
        return "no checkpoints"
    lines = [f"{'STEP':>5}  {'SOURCE':<7} {'CHECKPOINT':<38} {'NS':<16} UPDATED"]
    for c in items:
        lines.append(
            f"{c['step'] if c['step'] is not None else '-':>5}  {c['source'] or '-':<7} "
            f"{c['checkpoint_id']:<38} {short(c['checkpoint_ns'] or '-', 16):<16} "
            f"{', '.join(ch for ch in c['updated_channels'] if not ch.startswith('branch:'))}"
        )
    return "\n".join(lines)
