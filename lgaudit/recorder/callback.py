"""``RecordingCallback``: LangChain callbacks of a LangGraph run, as lgaudit events.

LangGraph gives each task's run the tag ``graph:step:N`` and metadata naming the node
(``langgraph_node``), step (``langgraph_step``) and task namespace
(``langgraph_checkpoint_ns`` = ``parent_ns|node:task_id``); model and tool calls inside
a node inherit that metadata. From these every event gets its thread, namespace, step,
node and task id, so callback events line up with the checkpointer's events.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langgraph.callbacks import GraphCallbackHandler, GraphInterruptEvent
from langgraph.errors import GraphBubbleUp, GraphInterrupt
from langgraph.types import Command

from lgaudit.events.payloads import error_view, model_name, task_context
from lgaudit.recorder.calls import Active, CallEvents
from lgaudit.store import NewEvent, NewRun

if TYPE_CHECKING:
    from lgaudit.recorder.host import Host as Recorder


@dataclass(frozen=True)
class TaskInfo:
    """What identifies a task across replays: its node, step and task path (and where)."""

    node: str
    step: int | None
    path: list[str]
    namespace: str = ""
    """The checkpoint namespace of the graph that ran the task."""


class RecordingCallback(CallEvents, GraphCallbackHandler):
    """Records runs, node tasks, model calls, tool calls and custom events of a graph."""

    run_inline = True  # keep event order; handlers only enqueue

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.raise_error = recorder.durability == "sync"
        self._active: dict[UUID, Active] = {}
        # per task and interrupt of the runs in progress, released at each run's end
        # (``forget_run``): attempts by run, then task; what each run added to the maps below
        self._attempts: dict[str, dict[str, int]] = {}
        self._tasks: dict[str, TaskInfo] = {}
        self._raised: dict[str, str] = {}  # interrupt id -> task id
        self._run_keys: dict[str, tuple[list[str], list[str]]] = {}  # run -> tasks, interrupts
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

    def is_task(self, run_id: UUID, name: Any, tags: Any, metadata: Any) -> bool:
        """Whether a chain start is a task's own run: a node's, or a ``@task`` call's."""
        md = metadata or {}
        with self._lock:
            return self._task_ns(run_id, name, tags, md, task_context(md)) is not None

    def _task_ns(
        self, run_id: UUID, name: Any, tags: Any, md: dict[str, Any], ctx: dict[str, Any]
    ) -> str | None:
        """For a task's own run, the checkpoint namespace of the graph running it."""
        if not md.get("langgraph_node") or name != md.get("langgraph_node"):
            return None
        if any(t.startswith("graph:step:") for t in tags or ()):
            return str(ctx["checkpoint_ns"])
        return self._called_task_ns(run_id, md, ctx["task_id"])

    def _called_task_ns(self, run_id: UUID, md: dict[str, Any], task_id: str | None) -> str | None:
        """For a Functional API ``@task`` call (LangGraph runs it as a ``PUSH`` task of the
        caller's graph, under the caller's callbacks, so without a ``graph:step`` tag): the
        namespace of the graph running it, which is the caller's. ``None`` for any other
        chain, such as a runnable inside a task that bears the task's name."""
        path: tuple[Any, ...] = tuple(md.get("langgraph_path") or ())
        if not task_id or len(path) < 4 or path[0] != "__pregel_push" or path[-1] is not True:
            return None
        if any(
            a.kind == "node" and a.context["task_id"] == task_id and rid != run_id
            for rid, a in self._active.items()
        ):
            return None  # inside the task, not the task itself
        ns = str(md.get("langgraph_checkpoint_ns") or "").split("|")
        caller = self._tasks.get(ns[-2].rsplit(":", 1)[-1]) if len(ns) > 1 else None
        return caller.namespace if caller is not None else "|".join(ns[:-2])

    def _note_raised(self, error: GraphInterrupt, run_id: str, task_id: str) -> None:
        """The task an interrupt was raised in: the first to fail with it (a task that
        called it fails with the same interrupt after it)."""
        with self._lock:
            for item in error.args[0] if error.args else ():
                interrupt_id = getattr(item, "id", None)
                if interrupt_id and interrupt_id not in self._raised:
                    self._raised[interrupt_id] = task_id
                    self._keys_of(run_id)[1].append(interrupt_id)

    def _keys_of(self, run_id: str) -> tuple[list[str], list[str]]:
        keys = self._run_keys.get(run_id)
        if keys is None:
            keys = self._run_keys[run_id] = ([], [])
        return keys

    def forget_run(self, run_id: str) -> None:
        """A run ended: forget its tasks, attempts and interrupts (a resumed thread runs
        its tasks again, in a run of its own, and notes them anew)."""
        with self._lock:
            self._attempts.pop(run_id, None)
            tasks, raised = self._run_keys.pop(run_id, ((), ()))
            for task_id in tasks:
                self._tasks.pop(task_id, None)
            for interrupt_id in raised:
                self._raised.pop(interrupt_id, None)

    def bookkeeping(self) -> dict[str, int]:
        """Sizes of what the callback remembers (for tests and diagnostics)."""
        return {
            "callback.active": len(self._active),
            "callback.attempts": len(self._attempts),
            "callback.tasks": len(self._tasks),
            "callback.raised": len(self._raised),
            "callback.runs": len(self._run_keys),
        }

    def interrupt_task(self, interrupt_id: str, checkpoint_ns: str) -> str | None:
        """The task of graph namespace ``checkpoint_ns`` that raised an interrupt, if this
        process saw it: for a Functional API ``@task``, not the entrypoint that called it
        (both save the interrupt, in an order LangGraph does not fix)."""
        task_id = self._raised.get(interrupt_id)
        info = self._tasks.get(task_id) if task_id else None
        return task_id if info is not None and info.namespace == checkpoint_ns else None

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
        return self._attempts.get(run_id, {}).get(task_id or "", 1)

    def _run_for(self, run_id: UUID, parent_run_id: UUID | None, metadata: Any) -> NewRun | None:
        md = metadata or {}
        named = self.recorder.runs.for_callback(run_id, parent_run_id, md)
        if named is not None:
            return named
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
            if run.graph_ref is not None:  # what ``lgaudit replay --graph`` takes
                payload["graph_ref"] = run.graph_ref
            if run.graph_shape is not None:  # its nodes and edges, for ``lgaudit ui``
                payload["graph_shape"] = run.graph_shape
            payload["recorder"] = self.recorder.live_id()
            payload["kill_switch"] = self.recorder.kill_switch
            with self._lock:
                self._active[run_id] = Active("run", run, ctx, name)
            self.recorder.begin_run(run)
            if not self.recorder.runs.mark_started(run.run_id):
                self._emit(run, "run_start", payload, ctx, blobs)
            if isinstance(inputs, Command) and inputs.resume is not None:
                resume = {"value": self.recorder.jsonable(inputs.resume)}
                self._emit(run, "resume", resume, ctx)
            return
        if not md.get("langgraph_node") or name != md.get("langgraph_node"):
            return  # a runnable inside a node (most chains): not a task's own run
        ctx = task_context(md)
        with self._lock:
            graph_ns = self._task_ns(run_id, name, tags, md, ctx)
            if graph_ns is None:
                return
            ctx["checkpoint_ns"] = graph_ns
            attempts = self._attempts.get(run.run_id)
            if attempts is None:
                attempts = self._attempts[run.run_id] = {}
            key = ctx["task_id"] or str(run_id)
            attempt = attempts[key] = attempts.get(key, 0) + 1
            path = [str(p) for p in md.get("langgraph_path") or []]
            if ctx["task_id"]:
                if ctx["task_id"] not in self._tasks:
                    self._keys_of(run.run_id)[0].append(ctx["task_id"])
                self._tasks[ctx["task_id"]] = TaskInfo(
                    ctx["node"], ctx["step"], path, ctx["checkpoint_ns"]
                )
            self._active[run_id] = Active("node", run, ctx, name, attempt)
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
            if isinstance(error, GraphInterrupt) and active.context["task_id"]:
                self._note_raised(error, active.run.run_id, active.context["task_id"])
            payload = {"status": status, "attempt": active.attempt}
            self._emit(active.run, "node_end", payload, active.context)
            return
        payload = {"error": self.recorder.jsonable(error_view(error)), "attempt": active.attempt}
        self._emit(active.run, "node_error", payload, active.context)
