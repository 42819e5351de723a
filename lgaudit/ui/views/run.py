"""``/runs/RUN``: a run's header, its graph and the path taken, the step timeline (each
step's tasks, model and tool calls, interrupts, memory and state change), the audit's
findings anchored to their steps, the thread's checkpoint tree and the replay commands.
``/api/runs/RUN`` is ``lgaudit show RUN --json``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request

from lgaudit.errors import BadInputError
from lgaudit.ui import values
from lgaudit.ui.checkpoint_tree import checkpoint_tree
from lgaudit.ui.graph_view import draw, path_taken, taken_edges
from lgaudit.ui.pages import api, page, ui

STEPS_PER_PAGE = 100
CHUNK_CHARS = 64 * 1024


@api("/api/runs/{run_id}")
def show_json(request: Request) -> Iterator[str]:
    """``lgaudit show RUN --json``: ``{"run", "events"}``, written an event at a time."""
    store = ui(request).store
    record = store.run(request.path_params["run_id"])
    events = store.expanded_events(record["run_id"])

    def chunks() -> Iterator[str]:
        # written in pieces of ~64 KB: each piece is a hop to the event loop's thread
        parts = ['{"run": ' + _dumps(record) + ', "events": [']
        size, sep = 0, ""
        for e in events:
            parts.append(sep + _dumps(e))
            size += len(parts[-1])
            sep = ", "
            if size > CHUNK_CHARS:
                yield "".join(parts)
                parts, size = [], 0
        parts.append("]}")
        yield "".join(parts)

    return chunks()


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@page("/runs/{run_id}", "run.html")
def run_page(request: Request) -> dict[str, Any]:
    from lgaudit.audit.audit import audit_trace
    from lgaudit.history.steps import run_steps
    from lgaudit.history.trace import TraceLoader

    store = ui(request).store
    record = store.run(request.path_params["run_id"])
    run_id = record["run_id"]
    # the thread's trace, as ``audit`` reads it: the steps, findings and checkpoint tree
    # come from one read of the store
    loader = TraceLoader(store)
    thread_id = record["thread_id"]
    trace = loader.thread(thread_id) if thread_id else loader.run(run_id)
    steps = run_steps(trace, run_id)
    events = trace.by_run.get(run_id, [])
    start = next((e for e in events if e["kind"] == "run_start"), None)
    anchors = {(s.namespace, s.step): _anchor(s.namespace, s.step) for s in steps}
    pages = max(1, -(-len(steps) // STEPS_PER_PAGE))
    number = _page_number(request, pages)
    shown = range((number - 1) * STEPS_PER_PAGE, min(len(steps), number * STEPS_PER_PAGE))
    page_of = {anchors[s.key]: i // STEPS_PER_PAGE + 1 for i, s in enumerate(steps)}
    findings = [f.to_json() for f in audit_trace(trace, [run_id])]
    flagged: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        anchor = anchors.get(("", f["step"])) if isinstance(f["step"], int) else None
        f["anchor"] = anchor
        f["page"] = page_of.get(anchor or "", 1)
        if anchor is not None:
            flagged.setdefault(anchor, []).append(f)
    timeline = _timeline(steps, shown, anchors, flagged, record, _parent_states(trace, run_id))
    path, visits = path_taken(steps)
    shape = _shape(store, start, record)
    drawing = draw(shape, visits, taken_edges(path, record["status"])) if shape else None
    return {
        "doc": record,
        "run": record,
        "start": start["payload"] if start else {},
        "duration": _duration(record),
        "cost": _cost(events),
        "replays": _replays(store, record),
        "drawing": drawing,
        "path": path,
        "visits": sorted(visits.items()),
        "steps": timeline,
        "step_count": len(steps),
        "page": number,
        "pages": pages,
        "findings": findings,
        "tree": checkpoint_tree(trace.events, run_id),
        "graph_arg": record.get("graph_ref") or "MODULE:ATTR",
    }


def _anchor(namespace: str, step: int) -> str:
    return f"step-{step}" if not namespace else f"step-{namespace}-{step}"


def _page_number(request: Request, pages: int) -> int:
    raw = request.query_params.get("page") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= pages:
        raise BadInputError(f"page must be a number from 1 to {pages}: {raw!r}")
    return int(raw)


def _timeline(
    steps: list[Any],
    shown: range,
    anchors: dict[tuple[str, int], str],
    flagged: dict[str, list[dict[str, Any]]],
    record: Mapping[str, Any],
    parents: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """The steps of this page, each with its tasks and its state change."""
    from lgaudit.audit.memory import describe_memory, memory_data

    previous: dict[str, Any] = {}
    states: list[Any] = []
    for s in steps:  # the state before each step: its checkpoint's parent, else the last
        parent = parents.get(s.checkpoint_seq) if s.checkpoint_seq is not None else None
        states.append(parent if parent is not None else previous.get(s.namespace))
        if s.state is not None:
            previous[s.namespace] = s.state
    out: list[dict[str, Any]] = []
    for i in shown:
        s = steps[i]
        before = states[i]
        if s.state is None:
            changes = None
        else:
            changes = values.state_changes(before or {}, s.state)
        tasks = []
        for t in s.tasks:
            tasks.append(
                {
                    "node": t.node,
                    "task_id": t.task_id,
                    "attempts": t.attempts,
                    "input": t.input,
                    "llm": t.llm,
                    "tools": t.tools,
                    "errors": t.errors,
                    "interrupts": t.interrupts,
                    "resumes": t.resumes,
                    "memory": [
                        {"kind": m["kind"], "what": describe_memory(m), "data": memory_data(m)}
                        for m in t.memory
                    ],
                    "writes": dict(t.writes),
                    "returned": t.returned,
                }
            )
        anchor = anchors[s.key]
        out.append(
            {
                "anchor": anchor,
                "namespace": s.namespace,
                "step": s.step,
                "nodes": s.nodes,
                "tokens": s.tokens,
                "tasks": tasks,
                "changes": changes,
                "findings": flagged.get(anchor, []),
                "llm_calls": sum(len(t.llm) for t in s.tasks),
                "tool_calls": sum(len(t.tools) for t in s.tasks),
                "interrupted": any(t.interrupts for t in s.tasks),
                "resumed": any(t.resumes for t in s.tasks),
                "failed": any(t.errors for t in s.tasks),
                "replay": (
                    f"lgaudit replay {record['run_id']} --from-step {s.step} "
                    f"--graph {record.get('graph_ref') or 'MODULE:ATTR'}"
                    if not s.namespace and s.step >= 0
                    else None
                ),
            }
        )
    return out


def _parent_states(trace: Any, run_id: str) -> dict[int, dict[str, Any]]:
    """For each checkpoint of the run (by event seq), the state of its parent checkpoint
    (of an earlier run of the thread, for the first step of a resumed or forked run)."""
    from lgaudit.history.trace import user_channels

    out: dict[int, dict[str, Any]] = {}
    for e in trace.by_run.get(run_id, []):
        if e["kind"] != "checkpoint":
            continue
        parent_id = e["payload"].get("parent_checkpoint_id")
        parent = trace.checkpoints.get((e["checkpoint_ns"] or "", parent_id)) if parent_id else None
        if parent is not None and parent["payload"].get("values") is not None:
            out[e["seq"]] = user_channels(parent["payload"]["values"])
    return out


def _shape(store: Any, start: dict[str, Any] | None, record: Mapping[str, Any]) -> Any:
    """The graph's nodes and edges from ``run_start``; a replay's from the run it replays."""
    shape = (start or {}).get("payload", {}).get("graph_shape")
    parent, hops = record.get("parent_run_id"), 0
    while shape is None and parent and hops < 5:
        first = store.events(parent, kinds=["run_start"])
        if not first:
            break
        shape = first[0]["payload"].get("graph_shape")
        parent = store.run(parent).get("parent_run_id")
        hops += 1
    return shape if isinstance(shape, dict) else None


def _duration(record: Mapping[str, Any]) -> float | None:
    if not record.get("ended_at"):
        return None
    started = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(record["ended_at"].replace("Z", "+00:00"))
    return (ended - started).total_seconds()


def _cost(events: list[dict[str, Any]]) -> float | None:
    """USD, when the model calls' usage recorded it (prices are a policy's, not the run's)."""
    total, known = 0.0, False
    for e in events:
        if e["kind"] == "llm_end":
            usage = e["payload"].get("usage") or {}
            for key in ("cost", "total_cost", "cost_usd"):
                if isinstance(usage.get(key), (int, float)):
                    total += float(usage[key])
                    known = True
                    break
    return total if known else None


def _replays(store: Any, record: Mapping[str, Any]) -> list[Any]:
    from lgaudit.store.run_children import child_runs

    return child_runs(store, record["run_id"])
