"""``RecordingCallback``: LangChain callbacks of a LangGraph run, as lgaudit events.

LangGraph gives each task's run the tag ``graph:step:N`` and metadata naming the node
(``langgraph_node``), step (``langgraph_step``) and task namespace
(``langgraph_checkpoint_ns`` = ``parent_ns|node:task_id``); model and tool calls inside
a node inherit that metadata. From these every event gets its thread, namespace, step,
node and task id, so callback events line up with the checkpointer's events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langgraph.callbacks import GraphCallbackHandler, GraphInterruptEvent
from langgraph.errors import GraphBubbleUp, GraphInterrupt
from langgraph.types import Command

from lgaudit.store import NewEvent, NewRun
from lgaudit.store.runs import RUN_ID_KEY

if TYPE_CHECKING:
    from lgaudit.recorder.recorder import Recorder


@dataclass(frozen=True)
class TaskInfo:
    """What identifies a task across replays: its node, step and task path."""

    node: str
    step: int | None
    path: list[str]


@dataclass
class _Active:
    """A LangChain run lgaudit is following (the root, a node task, a model or tool call)."""

    kind: str  # "run" | "node" | "llm" | "tool"
    run: NewRun
    context: dict[str, Any]
    name: str | None = None
    attempt: int = 0
    original: str | None = None  # a swapped model's call: the model it replaced


def task_context(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Thread, graph namespace, step, node and task id from LangGraph's callback metadata."""
    md = metadata or {}
    ns = md.get("langgraph_checkpoint_ns") or ""
    parts = ns.split("|") if ns else []
    task_id = parts[-1].rsplit(":", 1)[1] if parts and ":" in parts[-1] else None
    step = md.get("langgraph_step")
    return {
        "thread_id": str(md["thread_id"]) if md.get("thread_id") is not None else None,
        "checkpoint_ns": "|".join(parts[:-1]),
        "step": step if isinstance(step, int) else None,
        "node": md.get("langgraph_node"),
        "task_id": task_id,
    }


def error_view(error: BaseException) -> dict[str, Any]:
    return {
        "type": type(error).__name__,
        "module": type(error).__module__,
        "message": str(error),
        "injected": bool(getattr(error, "__lgaudit_injected__", False)),
    }


class RecordingCallback(GraphCallbackHandler):
    """Records runs, node tasks, model calls, tool calls and custom events of a graph."""

    run_inline = True  # keep event order; handlers only enqueue

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.raise_error = recorder.durability == "sync"
        self._active: dict[UUID, _Active] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._tasks: OrderedDict[str, TaskInfo] = OrderedDict()
        self._lock = threading.Lock()
        #: a replay's swapped models: name -> the substitute's name, which calls record
        self.model_aliases: dict[str, str] = {}

    # -- helpers ----------------------------------------------------------------------

    def node_for_task(self, task_id: str) -> str | None:
        info = self._tasks.get(task_id)
        return info.node if info else None

    def task_info(self, task_id: str) -> TaskInfo | None:
        """Node, step and task path of a task this process has seen start."""
        return self._tasks.get(task_id)

    def follows(self, run_id: UUID) -> bool:
        """Whether a LangChain run (a node task, a model or tool call) has started here."""
        return run_id in self._active

    def model_of(
        self, serialized: Any, params: dict[str, Any], metadata: Any, name: Any
    ) -> tuple[str, str]:
        """The name a model call is recorded under, and the name of the model called: they
        differ for a model a replay swapped (``model_aliases``)."""
        original = model_name(serialized, params, metadata, name)
        aliases = self.model_aliases
        return aliases.get(original) or aliases.get("*") or original, original

    def attempt_of(self, run_id: str, task_id: str | None) -> int:
        """The current attempt of a task (1 on its first start)."""
        return self._attempts.get((run_id, task_id or ""), 1)

    def _run_for(self, run_id: UUID, parent_run_id: UUID | None, metadata: Any) -> NewRun | None:
        md = metadata or {}
        lg_run = md.get(RUN_ID_KEY)
        if lg_run:
            return self.recorder.runs.for_config({"metadata": md, "configurable": {}})
        parent = self._active.get(parent_run_id) if parent_run_id else None
        if parent is not None:
            return parent.run
        thread = md.get("thread_id")  # a run this handler began (``_begin_run``)
        return self.recorder.runs.thread_run(str(thread)) if thread is not None else None

    def _begin_run(
        self, run_id: UUID, parent_run_id: UUID | None, metadata: dict[str, Any], name: Any
    ) -> NewRun | None:
        """A graph this handler was given by hand (``config={"callbacks": [...]}``, not
        ``attach``): its top-level call is a run, begun here, and the checkpoints of its
        thread belong to it."""
        if parent_run_id is not None or metadata.get("ls_integration") != "langgraph":
            return None
        thread = metadata.get("thread_id")
        run = NewRun(
            run_id=str(run_id),
            thread_id=str(thread) if thread is not None else None,
            graph=str(name) if name else None,
            environment=self.recorder.environment,
        )
        self.recorder.runs.begin_thread_run(run)
        return run

    def _emit(
        self,
        run: NewRun,
        kind: str,
        payload: dict[str, Any],
        ctx: dict[str, Any],
        blobs: dict[str, tuple[str, bytes]] | None = None,
    ) -> None:
        try:
            self.recorder.sink.submit(
                [NewEvent(run=run, kind=kind, payload=payload, blobs=blobs or {}, **ctx)]
            )
        except BaseException:
            self.recorder.checkpointer.forget_encodings()
            raise

    # -- chains: the run and its node tasks ------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        md = metadata or {}
        name = kwargs.get("name")
        run = self._run_for(run_id, parent_run_id, md) or self._begin_run(
            run_id, parent_run_id, md, name
        )
        if run is None:
            return
        if str(run_id) == run.run_id:
            ctx: dict[str, Any] = {
                "thread_id": run.thread_id,
                "checkpoint_ns": "",
                "step": None,
                "node": None,
                "task_id": None,
            }
            blobs: dict[str, tuple[str, bytes]] = {}
            payload = {"graph": run.graph or name, "input": self.recorder.pack(inputs, blobs)}
            if run.config is not None:
                payload["config"] = run.config
            payload["recorder"] = self.recorder.live_id()
            with self._lock:
                self._active[run_id] = _Active("run", run, ctx, name)
            if not self.recorder.runs.mark_started(run.run_id):
                self._emit(run, "run_start", payload, ctx, blobs)
            if isinstance(inputs, Command) and inputs.resume is not None:
                resume = {"value": self.recorder.jsonable(inputs.resume)}
                self._emit(run, "resume", resume, ctx)
            return
        step_tag = any(t.startswith("graph:step:") for t in tags or ())
        if not step_tag or not md.get("langgraph_node") or name != md.get("langgraph_node"):
            return
        ctx = task_context(md)
        with self._lock:
            key = (run.run_id, ctx["task_id"] or str(run_id))
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            path = [str(p) for p in md.get("langgraph_path") or []]
            if ctx["task_id"]:
                self._tasks[ctx["task_id"]] = TaskInfo(ctx["node"], ctx["step"], path)
                if len(self._tasks) > 50_000:
                    self._tasks.popitem(last=False)
            self._active[run_id] = _Active("node", run, ctx, name, attempt)
        blobs = {}
        # a node reading the graph's state reads the values of the checkpoint before its
        # step, before it can change them: the checkpointer stores those (``pin``)
        reads_state = path[:1] == ["__pregel_pull"] and isinstance(ctx["step"], int)
        refs: dict[str, str] | None = {} if reads_state else None
        payload = {
            "input": self.recorder.pack(inputs, blobs, refs=refs),
            "attempt": attempt,
            "triggers": list(md.get("langgraph_triggers") or []),
            "path": path,
        }
        self._emit(run, "node_start", payload, ctx, blobs)
        if refs:
            self.recorder.checkpointer.pin(
                run.run_id, ctx["thread_id"], ctx["checkpoint_ns"], ctx["step"] - 1, refs
            )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is None:
            return
        blobs: dict[str, tuple[str, bytes]] = {}
        if active.kind == "run":
            interrupted = self.recorder.runs.take_interrupted(active.run.run_id) or (
                isinstance(outputs, dict) and "__interrupt__" in outputs
            )
            status = "interrupted" if interrupted else "succeeded"
            payload = {"status": status, "output": self.recorder.pack(outputs, blobs)}
            self._emit(active.run, "run_end", payload, active.context, blobs)
            self.recorder.end_run(active.run)
            return
        refs: dict[str, str] = {}
        output = self.recorder.pack(outputs, blobs, refs=refs)
        payload = {"output": output, "attempt": active.attempt}
        self._emit(active.run, "node_end", payload, active.context, blobs)
        task_id = active.context["task_id"]
        if refs and task_id:  # the node's writes, as it returned them (``pin_writes``)
            self.recorder.checkpointer.pin_writes(active.run.run_id, task_id, refs)

    def on_interrupt(self, event: GraphInterruptEvent) -> None:
        """A run stopping at a static ``interrupt_before``/``interrupt_after`` (the graph's
        or the call's) returns normally, with no interrupt in its output: it is
        ``interrupted`` all the same (``interrupt()`` calls are recorded by their writes)."""
        if event.checkpoint_ns or event.status not in ("interrupt_before", "interrupt_after"):
            return
        with self._lock:
            active = self._active.get(event.run_id) if event.run_id else None
        if active is not None and active.kind == "run":
            self.recorder.runs.mark_interrupted(active.run.run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is None:
            return
        if active.kind == "run":
            self.recorder.runs.take_interrupted(active.run.run_id)
            if isinstance(error, GraphInterrupt):
                payload: dict[str, Any] = {"status": "interrupted", "output": None}
                self._emit(active.run, "run_end", payload, active.context)
            else:
                payload = {"status": "failed", "error": self.recorder.jsonable(error_view(error))}
                self._emit(active.run, "run_error", payload, active.context)
            self.recorder.end_run(active.run)
            return
        if isinstance(error, GraphBubbleUp):
            status = "interrupted" if isinstance(error, GraphInterrupt) else "handed_to_parent"
            payload = {"status": status, "attempt": active.attempt}
            self._emit(active.run, "node_end", payload, active.context)
            return
        payload = {"error": self.recorder.jsonable(error_view(error)), "attempt": active.attempt}
        self._emit(active.run, "node_error", payload, active.context)

    # -- model calls ----------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._llm_start(serialized, messages, run_id, parent_run_id, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._llm_start(serialized, prompts, run_id, parent_run_id, metadata, kwargs)

    def _llm_start(
        self,
        serialized: Any,
        messages: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Any,
        kwargs: dict[str, Any],
    ) -> None:
        run = self._run_for(run_id, parent_run_id, metadata)
        if run is None:
            return
        params = dict(kwargs.get("invocation_params") or {})
        model, original = self.model_of(serialized, params, metadata, kwargs.get("name"))
        ctx = task_context(metadata)
        with self._lock:
            self._active[run_id] = _Active("llm", run, ctx, model, original=original)
        blobs: dict[str, tuple[str, bytes]] = {}
        payload = {
            "model": model,
            "params": self.recorder.jsonable(params),
            "messages": self.recorder.pack(messages, blobs),
        }
        if model != original:
            payload["swapped_from"] = original
        self._emit(run, "llm_start", payload, ctx, blobs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is None:
            return
        generations = [
            [getattr(g, "message", None) or getattr(g, "text", None) for g in batch]
            for batch in response.generations
        ]
        blobs: dict[str, tuple[str, bytes]] = {}
        payload = {
            "model": active.name,
            "generations": self.recorder.pack(generations, blobs, ref=True),
            "usage": token_usage(response),
            "served_by": served_by(response),
        }
        if active.original and active.original != active.name:
            payload["swapped_from"] = active.original
        self._emit(active.run, "llm_end", payload, active.context, blobs)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is not None:
            payload = {"model": active.name, "error": self.recorder.jsonable(error_view(error))}
            self._emit(active.run, "llm_error", payload, active.context)

    # -- tool calls -----------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._run_for(run_id, parent_run_id, metadata)
        if run is None:
            return
        tool = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        ctx = task_context(metadata)
        with self._lock:
            self._active[run_id] = _Active("tool", run, ctx, tool)
        args = inputs if inputs is not None else input_str
        payload = {
            "tool": tool,
            "input": self.recorder.jsonable(args),
            "tool_call_id": kwargs.get("tool_call_id"),
        }
        self._emit(run, "tool_start", payload, ctx)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is not None:
            blobs: dict[str, tuple[str, bytes]] = {}
            payload = {
                "tool": active.name,
                "output": self.recorder.pack(output, blobs, ref=True),
                "tool_call_id": getattr(output, "tool_call_id", None),
            }
            self._emit(active.run, "tool_end", payload, active.context, blobs)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is not None:
            payload = {"tool": active.name, "error": self.recorder.jsonable(error_view(error))}
            self._emit(active.run, "tool_error", payload, active.context)

    # -- custom events ----------------------------------------------------------------------

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._run_for(run_id, None, metadata)
        if run is not None:
            payload = {"name": name, "data": self.recorder.jsonable(data)}
            self._emit(run, "custom", payload, task_context(metadata))

    def on_stream_write(self, chunk: Any, metadata: dict[str, Any]) -> None:
        """Data a node wrote with LangGraph's stream writer (``get_stream_writer``)."""
        if metadata.get(RUN_ID_KEY):
            run = self.recorder.runs.for_config({"metadata": metadata, "configurable": {}})
            payload = {
                "name": None,
                "source": "stream_writer",
                "data": self.recorder.jsonable(chunk),
            }
            self._emit(run, "custom", payload, task_context(metadata))


def model_name(serialized: Any, params: dict[str, Any], metadata: Any, name: Any) -> str:
    """The provider's model name, else the model's class name."""
    for key in ("model", "model_name", "model_id", "deployment_name"):
        if isinstance(params.get(key), str) and params[key]:
            return str(params[key])
    if metadata and isinstance(metadata.get("ls_model_name"), str):
        return str(metadata["ls_model_name"])
    ident = (serialized or {}).get("id")
    if isinstance(ident, list) and ident:
        return str(ident[-1])
    return str(name or params.get("_type") or "unknown")


def served_by(response: Any) -> str | None:
    """``cassette`` or ``swap:…`` when a replay answered instead of the recorded model."""
    for batch in response.generations:
        for g in batch:
            tag = (getattr(g, "generation_info", None) or {}).get("lgaudit_served_by")
            if tag:
                return str(tag)
    return None


def token_usage(response: Any) -> dict[str, int]:
    """Token usage of an LLM result: message ``usage_metadata``, else ``llm_output``."""
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    found = False
    for batch in response.generations:
        for g in batch:
            usage = getattr(getattr(g, "message", None), "usage_metadata", None)
            if usage:
                found = True
                for k in totals:
                    totals[k] += int(usage.get(k) or 0)
    if not found:
        raw = (response.llm_output or {}).get("token_usage") or {}
        totals["input_tokens"] = int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
        totals["output_tokens"] = int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
        totals["total_tokens"] = int(
            raw.get("total_tokens") or totals["input_tokens"] + totals["output_tokens"]
        )
    if not totals["total_tokens"]:
        totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
    return totals
