"""One imported trace rebuilt as a recorded run's events (``lgaudit.interop.importer``).

The root chain is the run: ``run_start`` (the source and the original ids), LangGraph's
input checkpoint (the input on ``__start__``, step -1: what a replay starts from, written
by lgaudit's own checkpointer into a capturing sink), then, walking the tree in the order
the calls ran, a ``node_start``/``node_end`` per node execution (a chain run whose
``langgraph_node`` metadata names it, nested by ``langgraph_checkpoint_ns``), the model
and tool calls inside each (messages and answers as LangChain messages, results stored as
the recorder stores them), and ``run_end``/``run_error``. Values pass the recorder's
default redaction.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from lgaudit.errors import BadInputError
from lgaudit.interop.messages import chat_messages, generations, revive
from lgaudit.interop.readback import (
    command_of,
    error_view,
    graph_value,
    handled_error,
    interrupts_of,
    names_type,
    path_part,
    usage_of,
)
from lgaudit.interop.source import Call
from lgaudit.store import NewEvent, NewRun, Store

#: the namespace of imported ids: uuid5(NS, "langsmith:<original root id>")
NS = uuid.UUID("6b1c7a5e-27a1-4b8e-9f4e-5d1f0c1e2a27")


class _Capture:
    """An event sink that keeps what the checkpointer submits (appended with the run)."""

    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    def submit(self, events: list[NewEvent]) -> None:
        self.events.extend(events)

    def flush(self, timeout: float | None = None) -> None:
        return None


@dataclass
class _Node:
    call: Call
    task_id: str
    ns: str
    """The namespace its node events are recorded under (its enclosing subgraph nodes; a
    Functional API task's, its caller's)."""
    step: int
    attempt: int
    key: Any = None
    inner_ns: str = ""
    """The namespace of the model and tool calls made inside it (LangGraph's metadata)."""


@dataclass
class _Run:
    run: NewRun
    thread: str
    events: list[NewEvent] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    steps: int = 0
    tasks: dict[str, _Node] = field(default_factory=dict)
    interrupts: set[str] = field(default_factory=set)
    """Ids of the interrupts recorded so far."""
    failed_calls: set[str] = field(default_factory=set)
    """Ids of the tool calls that failed so far."""


class Builder:
    """Builds the events of imported runs (one ``run`` call per trace)."""

    def __init__(
        self, store: Store, source: str, path: str, graph: str | None, environment: str | None
    ) -> None:
        from lgaudit.recorder import Redactor
        from lgaudit.store import AuditSaver

        self.sink = _Capture()
        # the recorder's default redaction, and its checkpointer's encoding of values
        self.saver = AuditSaver(store, sink=self.sink, redactor=Redactor())
        self.source, self.path, self.graph, self.environment = source, path, graph, environment

    def jsonable(self, value: Any) -> Any:
        return self.saver.jsonable(revive(value))

    def ref(self, value: Any, blobs: dict[str, Any]) -> dict[str, str]:
        return {"$ref": self.saver.codec.encode(value, blobs)}

    def is_graph_run(self, root: Call, children: dict[str, list[Call]]) -> bool:
        """Whether a root chain ran LangGraph nodes (its calls name a ``langgraph_node``)."""
        todo = list(children.get(root.id, []))
        while todo:
            call = todo.pop()
            if call.metadata.get("langgraph_node") is not None:
                return True
            todo += children.get(call.id, [])
        return False

    def run(self, run_id: str, root: Call, children: dict[str, list[Call]]) -> list[NewEvent]:
        from langgraph._internal._config import DEFAULT_RECURSION_LIMIT

        thread = f"{self.source}-{root.trace_id}"
        graph = self.graph or root.name
        run = NewRun(
            run_id=run_id,
            thread_id=thread,
            graph=graph,
            environment=self.environment,
            started_at=root.start_us,
        )
        r = _Run(run, thread)
        start_input = graph_value(root, children, root.inputs, "input")
        original = {
            "trace_id": root.trace_id,
            "id": root.id,
            "thread_id": root.metadata.get("thread_id"),
            "file": os.path.basename(self.path),
            "line": root.line,
        }
        payload = {
            "graph": graph,
            "input": self.saver.jsonable(start_input),
            "config": {"recursion_limit": int(DEFAULT_RECURSION_LIMIT)},
            "source": self.source,
            "original_ids": original,
        }
        self.emit(r, "run_start", payload, root.start_us)
        command = command_of(start_input)
        if command is not None:
            # a resume of an interrupted thread (``Command(resume=...)``): its state is in
            # LangGraph's checkpoints, not in the export: recorded, but nothing to replay from
            resume = {"value": self.saver.jsonable(command.get("resume"))}
            self.emit(r, "resume", resume, root.start_us)
        else:
            self.input_checkpoint(r, start_input, root.start_us)
        self.walk(r, root, children, None)
        end = root.end_us or max((e.ts for e in r.events), default=root.start_us)
        if root.error is not None:
            error = error_view(root.error)
            self.emit(r, "run_error", {"status": "failed", "error": error}, end)
        else:
            out = graph_value(root, children, root.outputs, "output")
            asked = r.interrupts or (isinstance(out, dict) and "__interrupt__" in out)
            status = "interrupted" if asked else "succeeded"
            self.emit(r, "run_end", {"status": status, "output": self.saver.jsonable(out)}, end)
        return r.events

    def emit(
        self,
        r: _Run,
        kind: str,
        payload: dict[str, Any],
        ts: int,
        node: _Node | None = None,
        blobs: dict[str, Any] | None = None,
    ) -> None:
        r.events.append(
            NewEvent(
                run=r.run,
                kind=kind,
                payload=payload,
                ts=ts,
                thread_id=r.thread,
                node=node.call.metadata.get("langgraph_node") or node.call.name if node else None,
                step=node.step if node else None,
                task_id=node.task_id if node else None,
                checkpoint_ns=(node.inner_ns if kind.startswith(("llm_", "tool_")) else node.ns)
                if node
                else "",
                blobs=blobs or {},
            )
        )

    def input_checkpoint(self, r: _Run, value: Any, ts: int) -> None:
        """LangGraph's first checkpoint of a run: the input waiting on ``__start__``."""
        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph.checkpoint.base.id import uuid6

        from lgaudit.checkpointer.runs import RUN_ID_KEY
        from lgaudit.store.records import iso

        checkpoint = empty_checkpoint()
        checkpoint["id"] = str(uuid6(clock_seq=-1))
        checkpoint["ts"] = (iso(ts) or "").replace("Z", "+00:00")
        version = self.saver.get_next_version(None, None)
        checkpoint["channel_values"] = {"__start__": value}
        checkpoint["channel_versions"] = {"__start__": version}
        checkpoint["updated_channels"] = ["__start__"]  # type: ignore[typeddict-unknown-key]
        config: Any = {
            "configurable": {"thread_id": r.thread, "checkpoint_ns": ""},
            "metadata": {RUN_ID_KEY: r.run.run_id},
        }
        metadata: Any = {"source": "input", "step": -1, "parents": {}}
        self.saver.put(config, checkpoint, metadata, {"__start__": version})
        for e in self.sink.events:
            r.events.append(replace(e, run=r.run, ts=ts))
        self.sink.events.clear()

    def node_of(self, r: _Run, call: Call, parent: _Node | None) -> _Node | None:
        """The node execution a chain run is, or ``None`` for a chain inside a node."""
        md = call.metadata
        if call.kind != "chain" or md.get("langgraph_node") != call.name:
            return None
        key = md.get("langgraph_checkpoint_ns") or (call.name, md.get("langgraph_step"))
        if parent is not None and parent.key == key:
            return None
        ns_md = md.get("langgraph_checkpoint_ns")
        last = ns_md.split("|")[-1] if isinstance(ns_md, str) else ""
        task_id = last.split(":", 1)[1] if ":" in last else str(uuid.uuid5(NS, call.id))
        if isinstance(ns_md, str) and ":" in last:
            ns = inner_ns = ns_md.rpartition("|")[0]  # as the recorder reads the metadata
            path = md.get("langgraph_path")
            if isinstance(path, list) and len(path) >= 4 and path[0] == "__pregel_push":
                if path[-1] is True:  # a Functional API task: recorded in its caller's graph
                    parts = ns_md.split("|")
                    caller = r.tasks.get(parts[-2].rpartition(":")[2]) if len(parts) > 1 else None
                    ns = caller.ns if caller is not None else "|".join(parts[:-2])
        else:
            ns = f"{parent.ns}|{parent.call.name}:{parent.task_id}" if parent else ""
            inner_ns = ns
        step = md.get("langgraph_step")
        if not isinstance(step, int):
            r.steps += 1
            step = r.steps
        r.attempts[task_id] += 1
        node = _Node(call, task_id, ns.lstrip("|"), step, r.attempts[task_id], key)
        node.inner_ns = inner_ns.lstrip("|")
        r.tasks[task_id] = node
        return node

    def walk(self, r: _Run, call: Call, children: dict[str, list[Call]], ctx: _Node | None) -> None:
        for child in children.get(call.id, []):
            node = self.node_of(r, child, ctx)
            if node is not None:
                self.node(r, node, children)
            elif child.kind == "llm":
                self.llm(r, child, ctx)
            elif child.kind == "tool":
                self.tool(r, child, children, ctx)
            else:
                self.walk(r, child, children, ctx)

    def node(self, r: _Run, node: _Node, children: dict[str, list[Call]]) -> None:
        call, md = node.call, node.call.metadata
        path = md.get("langgraph_path") or ["__pregel_pull", call.name]
        payload = {
            "attempt": node.attempt,
            "input": self.jsonable(call.inputs),
            "path": [path_part(p) for p in path] if isinstance(path, list) else path,
            "triggers": list(md.get("langgraph_triggers") or []),
        }
        self.emit(r, "node_start", payload, call.start_us, node)
        self.walk(r, call, children, node)
        end = call.end_us or call.start_us
        asked = interrupts_of(call.error) if call.error is not None else None
        if asked is not None:  # the node stopped at interrupt(): LangGraph's, not an error
            for value, interrupt_id in asked:
                if interrupt_id in r.interrupts:
                    continue  # asked by a node inside this one: recorded there
                r.interrupts.add(interrupt_id)
                task_path = "~" + ", ".join(payload["path"])
                interrupt = {
                    "value": value,
                    "interrupt_ids": [interrupt_id],
                    "task_path": task_path,
                }
                self.emit(r, "interrupt", self.saver.jsonable(interrupt), end, node)
            payload = {"status": "interrupted", "attempt": node.attempt}
            self.emit(r, "node_end", payload, end, node)
        elif call.error is not None:
            error = error_view(call.error)
            self.emit(r, "node_error", {"attempt": node.attempt, "error": error}, end, node)
        else:
            output = self.jsonable(call.outputs)
            self.emit(r, "node_end", {"attempt": node.attempt, "output": output}, end, node)

    def llm(self, r: _Run, call: Call, ctx: _Node | None) -> None:
        model = call.model or call.name
        messages = chat_messages(call.inputs)
        for m in messages or ():  # role dicts (Langfuse) drop a tool message's status
            if getattr(m, "tool_call_id", None) in r.failed_calls and hasattr(m, "status"):
                m.status = "error"
        payload: dict[str, Any] = {
            "model": model,
            "params": self.saver.jsonable(call.params),
            "messages": self.saver.jsonable(messages if messages is not None else call.inputs),
        }
        self.emit(r, "llm_start", payload, call.start_us, ctx)
        end = call.end_us or call.start_us
        if call.error is not None:
            payload = {"model": model, "error": error_view(call.error)}
            self.emit(r, "llm_error", payload, end, ctx)
            return
        answers = generations(call.outputs)
        if answers is None:
            raise BadInputError(
                f"{self.path}:{call.line}: model call {call.id} has no answer to import"
            )
        blobs: dict[str, Any] = {}
        usage = call.usage or usage_of(answers)
        payload = {
            "model": model,
            "generations": self.ref(answers, blobs),
            "usage": usage,
            "served_by": None,
        }
        self.emit(r, "llm_end", payload, end, ctx, blobs)

    def tool(self, r: _Run, call: Call, children: dict[str, list[Call]], ctx: _Node | None) -> None:
        payload: dict[str, Any] = {
            "tool": call.name,
            "input": self.jsonable(call.inputs),
            "tool_call_id": call.tool_call_id,
        }
        self.emit(r, "tool_start", payload, call.start_us, ctx)
        self.walk(r, call, children, ctx)
        end = call.end_us or call.start_us
        if call.error is not None:
            error = error_view(call.error)
            if ctx is not None and not names_type(call.error):
                error = handled_error(ctx.call.outputs, call.tool_call_id) or error
            self.emit(r, "tool_error", {"tool": call.name, "error": error}, end, ctx)
            if call.tool_call_id:
                r.failed_calls.add(call.tool_call_id)
            return
        out = call.outputs
        if isinstance(out, dict) and set(out) == {"output"}:
            out = out["output"]  # LangSmith wraps a tool's result
        value = revive(out)
        blobs: dict[str, Any] = {}
        payload = {
            "tool": call.name,
            "output": self.ref(value, blobs),
            "tool_call_id": getattr(value, "tool_call_id", None) or call.tool_call_id,
        }
        self.emit(r, "tool_end", payload, end, ctx, blobs)
