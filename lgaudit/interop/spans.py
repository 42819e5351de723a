"""A recorded run's events as spans (plain data) under OpenTelemetry's GenAI conventions.

One trace per run: its id is the run id's 16 bytes (a UUID run id; else the first 16 bytes
of its SHA-256), and every span id is derived from the run id and the ``seq`` of the event
that opened it, so exporting a run twice gives the same spans. The run is
``invoke_agent {graph}`` when it made a model call, else ``invoke_workflow {graph}``; each
node execution (one per attempt) a child span, inside the span of the subgraph node that
ran it (``checkpoint_ns``); each model call ``chat {model}`` and each tool call
``execute_tool {tool}`` inside its node. Steps are the nodes' ``langgraph.step`` and the
``langgraph.checkpoint`` span events; interrupts, resumes, guards, custom and memory events
are span events of the span they happened in. Errors are span status ``ERROR`` with their
message. Values are the store's, as recorded (redaction already applied).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``Span.kind`` values (OTLP's ``SpanKind`` numbers)
INTERNAL, CLIENT = 1, 3
#: event kinds that become span events of the span they happened in
_SPAN_EVENTS = (
    "checkpoint",
    "interrupt",
    "resume",
    "state_update",
    "custom",
    "guard",
    "memory_read",
    "memory_write",
    "delete",
)


@dataclass
class SpanData:
    """One span, ready for ``lgaudit.interop.otlp``: ids are bytes, times nanoseconds."""

    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    start_ns: int
    end_ns: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None


@dataclass
class TraceData:
    """A run as one trace: its spans (the run's first) and the resource it came from."""

    trace_id: bytes
    spans: list[SpanData]
    resource: dict[str, Any]


def trace_id_of(run_id: str) -> bytes:
    """The trace id of a run: its UUID's 16 bytes, else the start of its SHA-256."""
    try:
        return uuid.UUID(run_id).bytes
    except ValueError:
        return hashlib.sha256(run_id.encode()).digest()[:16]


def span_id_of(run_id: str, key: str) -> bytes:
    return hashlib.sha256(f"{run_id}\x00{key}".encode()).digest()[:8]


def ns_of(ts: str) -> int:
    """An event's ISO 8601 UTC timestamp as nanoseconds since the epoch."""
    moment = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    seconds = int(moment.replace(microsecond=0).timestamp())
    return seconds * 1_000_000_000 + moment.microsecond * 1000


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _error_text(payload: dict[str, Any]) -> str:
    error = payload.get("error")
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        return f"{kind}: {message}" if kind else str(message)
    return str(error) if error is not None else "error"


def _error_type(payload: dict[str, Any]) -> str:
    error = payload.get("error")
    if isinstance(error, dict) and error.get("type"):
        return str(error["type"])
    return "_OTHER"


def _parent_task(checkpoint_ns: str | None) -> str | None:
    """The task id of the subgraph node a namespaced event ran inside (``a:t1|b:t2`` -> t2)."""
    if not checkpoint_ns:
        return None
    last = checkpoint_ns.split("|")[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _same_tool(start: dict[str, Any], end: dict[str, Any]) -> bool:
    if start.get("tool_call_id") and end.get("tool_call_id"):
        return bool(start["tool_call_id"] == end["tool_call_id"])
    return start.get("tool") == end.get("tool")


class _Builder:
    """Walks one run's events in order, opening and closing spans."""

    def __init__(self, run: Mapping[str, Any]) -> None:
        self.run = run
        self.run_id: str = run["run_id"]
        self.spans: list[SpanData] = []
        self.root: SpanData | None = None
        self.nodes: dict[str, SpanData] = {}  # open node span by task id
        self.last_node: dict[str, SpanData] = {}  # latest node span of each task id
        self.calls: dict[tuple[str, str | None], list[tuple[SpanData, dict[str, Any]]]] = {}
        self.last_ns = 0
        self.models = False

    def span(self, seq: int, parent: SpanData | None, name: str, kind: int, ns: int) -> SpanData:
        s = SpanData(
            span_id=span_id_of(self.run_id, f"seq:{seq}"),
            parent_span_id=parent.span_id if parent is not None else None,
            name=name,
            kind=kind,
            start_ns=ns,
        )
        s.attributes["lgaudit.run_id"] = self.run_id
        s.attributes["lgaudit.event_seq"] = seq
        self.spans.append(s)
        return s

    def root_span(self, ns: int) -> SpanData:
        if self.root is None:
            self.root = self.span(0, None, "run", INTERNAL, ns)
        return self.root

    def container(self, e: dict[str, Any]) -> SpanData:
        """The span an event happened in: its task's node, else the subgraph node its
        namespace names, else the run."""
        task = e.get("task_id")
        for key in (task, _parent_task(e.get("checkpoint_ns"))):
            if key and key in self.nodes:
                return self.nodes[key]
            if key and key in self.last_node:
                return self.last_node[key]
        return self.root_span(ns_of(e["ts"]))

    def add(self, e: dict[str, Any]) -> None:
        kind, p, ns, seq = e["kind"], e["payload"] or {}, ns_of(e["ts"]), e["seq"]
        self.last_ns = max(self.last_ns, ns)
        if kind == "run_start":
            root = self.root_span(ns)
            root.attributes["lgaudit.event_seq"] = seq
            if "input" in p:
                root.attributes["input.value"] = _json(p["input"])
        elif kind in ("run_end", "run_error"):
            root = self.root_span(ns)
            root.end_ns = ns
            root.attributes["lgaudit.status"] = p.get("status") or "failed"
            if p.get("output") is not None:
                root.attributes["output.value"] = _json(p["output"])
            if kind == "run_error":
                root.error = _error_text(p)
                root.attributes["error.type"] = _error_type(p)
        elif kind == "node_start":
            self.node_start(e, p, ns, seq)
        elif kind in ("node_end", "node_error"):
            span = self.nodes.pop(e.get("task_id") or "", None)
            if span is not None:
                span.end_ns = ns
                if p.get("output") is not None:
                    span.attributes["output.value"] = _json(p["output"])
                if p.get("status"):
                    span.attributes["langgraph.node.status"] = p["status"]
                if kind == "node_error":
                    span.error = _error_text(p)
                    span.attributes["error.type"] = _error_type(p)
        elif kind in ("llm_start", "tool_start"):
            self.call_start(e, p, ns, seq)
        elif kind in ("llm_end", "llm_error", "tool_end", "tool_error"):
            self.call_end(e, p, ns)
        elif kind in _SPAN_EVENTS:
            self.span_event(e, p, ns, seq)

    def node_start(self, e: dict[str, Any], p: dict[str, Any], ns: int, seq: int) -> None:
        parent = self.container({**e, "task_id": None})
        node = e.get("node") or "node"
        span = self.span(seq, parent, node, INTERNAL, ns)
        span.attributes.update(
            {
                "langgraph.node": node,
                "langgraph.step": e.get("step"),
                "langgraph.task_id": e.get("task_id"),
                "langgraph.checkpoint_ns": e.get("checkpoint_ns") or None,
                "langgraph.attempt": p.get("attempt"),
                "openinference.span.kind": "CHAIN",
            }
        )
        if "input" in p:
            span.attributes["input.value"] = _json(p["input"])
        if e.get("task_id"):
            self.nodes[e["task_id"]] = span
            self.last_node[e["task_id"]] = span

    def call_start(self, e: dict[str, Any], p: dict[str, Any], ns: int, seq: int) -> None:
        parent = self.container(e)
        a: dict[str, Any]
        if e["kind"] == "llm_start":
            self.models = True
            model = str(p.get("model") or "unknown")
            span = self.span(seq, parent, f"chat {model}", CLIENT, ns)
            a = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "openinference.span.kind": "LLM",
            }
            if "messages" in p:
                a["gen_ai.input.messages"] = _json(p["messages"])
            key = (e.get("task_id") or "", "llm")
        else:
            tool = str(p.get("tool") or "tool")
            span = self.span(seq, parent, f"execute_tool {tool}", INTERNAL, ns)
            a = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.id": p.get("tool_call_id"),
                "openinference.span.kind": "TOOL",
            }
            if "input" in p:
                a["gen_ai.tool.call.arguments"] = _json(p["input"])
            key = (e.get("task_id") or "", "tool")
        span.attributes.update(a)
        if e.get("step") is not None:
            span.attributes["langgraph.step"] = e["step"]
        self.calls.setdefault(key, []).append((span, p))

    def call_end(self, e: dict[str, Any], p: dict[str, Any], ns: int) -> None:
        is_llm = e["kind"].startswith("llm")
        waiting = self.calls.get((e.get("task_id") or "", "llm" if is_llm else "tool"), [])
        # the oldest open call of the task; a tool's by its call id (its error has none)
        # or, failing that, its name
        found = next(
            (i for i, (_s, start) in enumerate(waiting) if is_llm or _same_tool(start, p)), None
        )
        if found is None:
            return
        span, _start = waiting.pop(found)
        span.end_ns = ns
        if e["kind"].endswith("_error"):
            span.error = _error_text(p)
            span.attributes["error.type"] = _error_type(p)
        elif e["kind"] == "llm_end":
            usage = p.get("usage") or {}
            span.attributes["gen_ai.usage.input_tokens"] = usage.get("input_tokens")
            span.attributes["gen_ai.usage.output_tokens"] = usage.get("output_tokens")
            span.attributes["gen_ai.response.model"] = p.get("served_by") or p.get("model")
            if "generations" in p:
                span.attributes["gen_ai.output.messages"] = _json(p["generations"])
        else:
            span.attributes["gen_ai.tool.call.result"] = _json(p.get("output"))

    def span_event(self, e: dict[str, Any], p: dict[str, Any], ns: int, seq: int) -> None:
        span = self.container(e)
        attrs: dict[str, Any] = {"lgaudit.event_seq": seq}
        if e["kind"] == "checkpoint":
            attrs["langgraph.step"] = e.get("step")
            attrs["langgraph.checkpoint_id"] = e.get("checkpoint_id") or p.get("checkpoint_id")
            attrs["langgraph.checkpoint_ns"] = e.get("checkpoint_ns") or None
            name = "langgraph.checkpoint"
        else:
            name = f"lgaudit.{e['kind']}"
            attrs["lgaudit.payload"] = _json(p)
        span.events.append((name, ns, attrs))

    def finish(self) -> TraceData:
        run = self.run
        root = self.root_span(self.last_ns)
        graph = run.get("graph") or "graph"
        operation = "invoke_agent" if self.models else "invoke_workflow"
        root.name = f"{operation} {graph}"
        root.attributes.update(
            {
                "gen_ai.operation.name": operation,
                "gen_ai.agent.name" if self.models else "gen_ai.workflow.name": graph,
                "gen_ai.conversation.id": run.get("thread_id"),
                "lgaudit.environment": run.get("environment"),
                "lgaudit.graph_ref": run.get("graph_ref"),
                "lgaudit.parent_run_id": run.get("parent_run_id"),
                "openinference.span.kind": "AGENT" if self.models else "CHAIN",
            }
        )
        for span in self.spans:  # a span never ended (a running or abandoned run) ends last
            if span.end_ns is None:
                span.end_ns = max(self.last_ns, span.start_ns)
            if span is not root and run.get("thread_id"):
                span.attributes.setdefault("gen_ai.conversation.id", run["thread_id"])
        resource = {"service.name": "lgaudit"}
        if run.get("environment"):
            resource["deployment.environment.name"] = run["environment"]
        return TraceData(trace_id_of(self.run_id), self.spans, resource)


def run_trace(run: Mapping[str, Any], events: Iterable[dict[str, Any]]) -> TraceData:
    """One recorded run (a ``RunRecord``) and its expanded events, in order, as a trace."""
    builder = _Builder(run)
    for e in events:
        builder.add(e)
    return builder.finish()
