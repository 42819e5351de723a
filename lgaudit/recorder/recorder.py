"""``Recorder``: the facade users hold — store, checkpointer, callback, writer, redaction.

``recorder.attach(graph)`` returns a copy of the compiled graph bound to the recording
checkpointer (or, when the graph has its own checkpointer, a ``RecordingSaver`` teeing it)
whose top-level calls each start a run: the run id is put in the config (LangChain's
``run_id``, and on the LangGraph runtime the run is given, which reaches every task,
checkpoint and write, subgraphs included, and which LangGraph never streams), so the
callback and the checkpointer attribute everything to it. ``update_state`` is recorded
as a run of its own holding a ``state_update`` event.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph._internal._config import DEFAULT_RECURSION_LIMIT
from langgraph._internal._constants import CONFIG_KEY_RUNTIME, PREVIOUS
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from lgaudit.audit.policy import Policy
from lgaudit.checkpointer.runs import RunRegistry, config_run_id, new_run_id
from lgaudit.checkpointer.saver import AuditSaver
from lgaudit.checkpointer.sinks import DirectSink
from lgaudit.codec.serialization import blob_hash, is_split_dict, is_split_list
from lgaudit.errors import BadInputError, StoreUnavailableError
from lgaudit.events.graph_ref import graph_ref, graph_shape
from lgaudit.events.payloads import state_fields
from lgaudit.events.redaction import Redact, Redactor
from lgaudit.recorder.batching import BatchedWriter
from lgaudit.recorder.callback import RecordingCallback
from lgaudit.recorder.custom import recording_runtime
from lgaudit.recorder.guard import GuardCallback, load_guard_policy
from lgaudit.recorder.killswitch import KillCheck
from lgaudit.recorder.memory import MemoryLog
from lgaudit.recorder.recorded import recorded_class
from lgaudit.recorder.tee import RecordingSaver
from lgaudit.store import NewEvent, NewRun, Store
from lgaudit.store.liveness import LivenessLock

Durability = Literal["batched", "sync"]
_INLINE_MAX = 1024
RUN_END_FLUSH_S = 10.0
log = logging.getLogger("lgaudit")


class Recorder:
    """Records LangGraph runs into an lgaudit store.

    Args:
        url: store URL; ``None`` means ``$LGAUDIT_DB``, else ``sqlite:///lgaudit.db``.
        environment: a label stored on every run (``staging``, ``prod``…).
        redact: extra key patterns (regex) and/or callables ``fn(text) -> text``.
        durability: ``"batched"`` (default) writes from a background writer — the graph
            never waits on disk; ``flush()``, ``close()`` and the end of each run drain it.
            ``"sync"`` writes every event before the graph goes on; a store failure fails
            the run (fail-closed).
        store: a LangGraph long-term memory store for graphs given none of their own
            (``compile(store=...)``) or by the caller's runtime. Whichever store a run
            uses is recorded: ``memory_read``/``memory_write`` events.
        kill_switch: ``True`` (default): kill orders recorded in the store (``lgaudit
            kill``) refuse this recorder's matching new runs and stop its running ones at
            their next node, model or tool call. ``False`` opts out; each ``run_start``
            says which (``"kill_switch"``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        environment: str | None = None,
        redact: Redact | None = None,
        durability: Durability = "batched",
        guard: Policy | str | Path | Mapping[str, Any] | None = None,
        store: BaseStore | None = None,
        kill_switch: bool = True,
    ) -> None:
        if durability not in ("batched", "sync"):
            raise BadInputError(f"durability must be 'batched' or 'sync', not {durability!r}")
        guard_policy = load_guard_policy(guard) if guard is not None else None
        self.durability = durability
        self.environment = environment
        self.store = Store(url)
        self.kill_switch = kill_switch
        self.liveness = LivenessLock(self.store.url, watching=kill_switch, environment=environment)
        self.redactor = Redactor(redact)
        self.runs = RunRegistry(environment)
        self.sink: BatchedWriter | DirectSink = (
            BatchedWriter(self.store, process=_writer_process())
            if durability == "batched"
            else DirectSink(self.store)
        )
        self.callback = RecordingCallback(self)
        self.memory = MemoryLog(self)
        self.memory_store = store
        self.checkpointer = AuditSaver(
            self.store,
            sink=self.sink,
            runs=self.runs,
            task_node=self.callback.node_for_task,
            interrupt_task=self.callback.interrupt_task,
            redactor=self.redactor,
        )
        self.guard = GuardCallback(self, guard_policy) if guard_policy is not None else None
        self.kill_check = KillCheck(self) if kill_switch else None
        # run -> the element cache's mark when it began (``begin_run``): at a run's end
        # the encodings no run still in progress began before are released
        self._open: dict[str, int] = {}
        self._open_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.store.url

    # -- attaching ----------------------------------------------------------------------

    def attach(self, graph: Any) -> Any:
        """The graph, recorded: same behaviour, plus the recording checkpointer and callback.

        Accepts a compiled graph or a ``StateGraph`` builder (compiled here). A graph
        compiled with its own checkpointer keeps it, teed into the audit log.
        """
        if not isinstance(graph, Pregel) and callable(getattr(graph, "compile", None)):
            graph = graph.compile()
        if not isinstance(graph, Pregel):
            raise BadInputError(f"cannot record {type(graph).__name__}: expected a LangGraph graph")
        inner = graph.checkpointer
        saver: BaseCheckpointSaver = self.checkpointer
        if isinstance(inner, BaseCheckpointSaver) and not isinstance(inner, AuditSaver):
            saver = RecordingSaver(inner, self)
        allowlist = _graph_allowlist(graph)
        if allowlist:
            saver = saver.with_allowlist(allowlist)
        attrs = {
            k: v
            for k, v in graph.__dict__.items()
            if k != "__orig_class__" and not k.startswith("_lgaudit_")
        }
        attrs["checkpointer"] = saver
        recorded = recorded_class(type(graph))(**attrs)
        recorded.__dict__["_lgaudit_recorder"] = self
        recorded.__dict__["_lgaudit_makes_threads"] = not isinstance(inner, BaseCheckpointSaver)
        return recorded

    def start_run(
        self, graph: Pregel, config: RunnableConfig | None, *, parent_run_id: str | None = None
    ) -> tuple[RunnableConfig, NewRun | None]:
        """The config for one top-level call, carrying a new run id (``None`` if nested)."""
        config = cast(RunnableConfig, dict(config or {}))
        metadata = dict(config.get("metadata") or {})
        outer = var_child_runnable_config.get()  # the node this call is made from
        if config_run_id(config) or config_run_id(outer):
            return config, None  # a nested call inside a recorded run belongs to that run
        run_id = str(config.get("run_id") or new_run_id())
        configurable = dict(config.get("configurable") or {})
        recorded_config = self.jsonable(run_config(config))
        thread_id = configurable.get("thread_id")
        if thread_id is None and graph.__dict__.get("_lgaudit_makes_threads"):
            # the graph had no checkpointer of its own: a call with no thread ran fresh
            # without the recorder, and does so on a thread made for this run alone
            thread_id = configurable["thread_id"] = f"lgaudit-{run_id}"
        elif not configurable and isinstance(graph.checkpointer, BaseCheckpointSaver):
            return config, None  # LangGraph's own ValueError: its checkpointer needs a thread
        environment = self.environment
        if environment is None and isinstance(config.get("environment"), str):
            environment = cast(str, config.get("environment"))  # the seed's staging_config
        run = NewRun(
            run_id=run_id,
            thread_id=str(thread_id) if thread_id is not None else None,
            parent_run_id=parent_run_id or metadata.get("lgaudit_parent_run_id"),
            graph=graph_name(graph),
            graph_ref=graph_ref(graph),
            graph_shape=graph_shape(graph),
            environment=environment,
            replay=metadata.get("lgaudit_replay"),
            config=recorded_config,
        )
        self.runs.register(run)
        config["run_id"] = uuid.UUID(run_id)
        config["callbacks"] = _with_handlers(config.get("callbacks"), self.handlers())
        configurable[CONFIG_KEY_RUNTIME] = recording_runtime(
            configurable.get(CONFIG_KEY_RUNTIME),
            self.callback.on_stream_write,
            getattr(graph, "store", None) or self.memory_store,
            self.memory.wrap,
            run_id=run_id,  # on the runtime, so nothing the graph streams shows it
        )
        config["configurable"] = configurable
        return config, run

    def handlers(self) -> list[BaseCallbackHandler]:
        """lgaudit's callback handlers for a run, in order: the kill check and the guard
        (those on), which stop a call before the recording handler records it started."""
        controls = [h for h in (self.kill_check, self.guard) if h is not None]
        return [*controls, self.callback]

    def begin_run(self, run: NewRun) -> None:
        """Called when a run's root chain starts (``end_run`` releases what it used)."""
        with self._open_lock:
            self._open.setdefault(run.run_id, self.checkpointer.elements.mark())

    def end_run(self, run: NewRun) -> None:
        """Called when a run's last event is submitted: release what was remembered for it
        and drain the writer, for a bounded time — during a store outage the graph goes on
        and the events stay queued."""
        self.release_run(run)
        if isinstance(self.sink, BatchedWriter) and not self.sink.healthy:
            log.warning("lgaudit: run %s ended during a store outage: %d events queued",
                        run.run_id, self.sink.pending)  # fmt: skip
            return
        try:
            self.sink.flush(timeout=RUN_END_FLUSH_S)
        except StoreUnavailableError as e:
            log.warning("lgaudit: run %s ended with events still queued: %s", run.run_id, e)

    def release_run(self, run: NewRun) -> None:
        """Forget what this process remembered for a run that ended: its tasks, attempts,
        interrupts, pins, the steps of its thread's checkpoints (when no other run of the
        thread is in progress here) and the encodings only it could still reuse."""
        thread_done = self.runs.forget(run.run_id)
        self.callback.forget_run(run.run_id)
        self.checkpointer.forget_run(run.run_id, run.thread_id, thread_done)
        with self._open_lock:
            self._open.pop(run.run_id, None)
            elements = self.checkpointer.elements
            oldest = min(self._open.values(), default=elements.mark())
        elements.trim(oldest)

    def bookkeeping(self) -> dict[str, int]:
        """The sizes of what this recorder remembers per run, thread, task, checkpoint and
        value (maps and caches), by name: what returns to its size before a run once the
        run ended, or stays under a stated bound. For tests and diagnostics."""
        sizes = {"recorder.open_runs": len(self._open)}
        sizes.update(self.runs.bookkeeping())
        sizes.update(self.callback.bookkeeping())
        sizes.update(self.checkpointer.bookkeeping())
        sizes["store.known_runs"] = self.store.known_runs_count()
        sizes["store.blob_cache"] = len(self.store.blob_cache)
        if isinstance(self.sink, BatchedWriter):
            sizes.update(self.sink.bookkeeping())
        if self.guard is not None:
            sizes.update(self.guard.bookkeeping())
        return sizes

    # -- values in event payloads ---------------------------------------------------------------

    def jsonable(self, value: Any) -> Any:
        return self.checkpointer.jsonable(value)

    def pack(
        self,
        value: Any,
        blobs: dict[str, tuple[str, bytes]],
        *,
        ref: bool = False,
        refs: dict[str, str] | None = None,
    ) -> Any:
        """A payload value: inline JSON when small, else ``{"$ref": hash}`` to stored blobs
        (large lists and states are stored part by part, so history is not rewritten).
        ``ref=True`` always stores the value itself (replay serves it back as objects).
        ``refs``, for a state (a str-keyed dict, a dataclass or pydantic model), has the
        state stored key by key and receives each key's hash: what the checkpointer stores
        for that channel's value."""
        codec = self.checkpointer.codec
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
            value = value[0]
        if ref:
            return {"$ref": codec.encode(value, blobs)}
        if is_split_list(value):
            return {"$ref": codec.encode_list(value, blobs)}
        fields = value if refs is None or type(value) is dict else state_fields(value)
        if is_split_dict(fields) or (refs is not None and _str_keyed(fields)):
            # stored key by key: the checkpointer's own encoding of each value (``refs``)
            return {"$ref": codec.encode_dict(cast(dict[str, Any], fields), blobs, refs)}
        blob = codec.dumps(value)
        if len(blob[1]) <= _INLINE_MAX:
            return self.jsonable(value)
        blob_ref = blob_hash(*blob)
        blobs[blob_ref] = blob
        return {"$ref": blob_ref}

    def record(self, run: NewRun, kind: str, payload: dict[str, Any], **context: Any) -> None:
        """Append one event to a run (used for run-level events outside callbacks)."""
        self.sink.submit(
            [NewEvent(run=run, kind=kind, payload=payload, thread_id=run.thread_id, **context)]
        )

    # -- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Block until every recorded event is in the store."""
        self.sink.flush()

    def live_id(self) -> str:
        """This recorder's id, named in the ``run_start`` of its runs; from the first call on
        it holds the liveness lock by which readers tell its runs ``running`` from
        ``abandoned``."""
        return self.liveness.acquire()

    def close(self) -> None:
        """Drain the writer and release the store's connections."""
        if self.kill_check is not None:
            self.kill_check.close()
        if isinstance(self.sink, BatchedWriter):
            self.sink.close()
        self.liveness.release()
        self.store.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: configurable keys that place a call in the store, not how the graph runs
_PLACEMENT_KEYS = frozenset({"thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map"})
_RUN_CONFIG_KEYS = ("recursion_limit", "tags", "metadata", "max_concurrency", "run_name")


def run_config(config: RunnableConfig) -> dict[str, Any]:
    """What of a top-level call's config a replay runs under: the recursion limit, tags,
    metadata, ``max_concurrency``, ``run_name`` and the configurable keys other than the
    thread and checkpoint (LangGraph's own ``__pregel_*`` keys, lgaudit's metadata and the
    callbacks left out)."""
    # the limit in force, LangGraph's default included (``$LANGGRAPH_DEFAULT_RECURSION_LIMIT``
    # may differ where the replay runs)
    out: dict[str, Any] = {"recursion_limit": int(DEFAULT_RECURSION_LIMIT)}
    for key in _RUN_CONFIG_KEYS:
        if config.get(key) is not None:
            out[key] = config.get(key)
    if "metadata" in out:
        metadata = {k: v for k, v in out["metadata"].items() if not k.startswith("lgaudit_")}
        if metadata:
            out["metadata"] = metadata
        else:
            del out["metadata"]
    configurable = {
        k: v
        for k, v in (config.get("configurable") or {}).items()
        if k not in _PLACEMENT_KEYS and not k.startswith("__")
    }
    if configurable:
        out["configurable"] = configurable
    return out


def graph_name(graph: Pregel) -> str:
    """The name runs of a graph are recorded under: its own, or for a Functional API
    workflow, which LangGraph leaves named ``LangGraph``, its ``@entrypoint``'s."""
    name = graph.get_name()
    if name == "LangGraph" and PREVIOUS in graph.channels and len(graph.nodes) == 1:
        return next(iter(graph.nodes))
    return name


def _str_keyed(value: Any) -> bool:
    return type(value) is dict and all(isinstance(k, str) for k in value)


def _writer_process() -> bool:
    """Whether the batched writer appends from a writer process (``$LGAUDIT_WRITER``:
    ``process``, the default, or ``thread``)."""
    mode = os.environ.get("LGAUDIT_WRITER", "process")
    if mode not in ("process", "thread"):
        raise BadInputError(f"LGAUDIT_WRITER must be 'process' or 'thread', not {mode!r}")
    return mode == "process"


def _graph_allowlist(graph: Pregel) -> set[tuple[str, ...]] | None:
    """The state types a graph may revive from msgpack (what LangGraph's strict mode uses)."""
    allowlist = getattr(graph, "_serde_allowlist", None)
    if allowlist:
        return set(allowlist)
    try:
        from langgraph._internal._serde import build_serde_allowlist

        builder = getattr(graph, "builder", None)
        schemas = list(getattr(builder, "schemas", None) or [])
        return build_serde_allowlist(schemas=schemas, channels=dict(graph.channels))
    except Exception:  # noqa: BLE001 - private API moved: keep the strict default
        return None


def _with_handlers(callbacks: Any, ours: list[BaseCallbackHandler]) -> Any:
    """The call's callbacks, then lgaudit's (``Recorder.handlers``)."""
    if callbacks is None:
        return ours
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        for h in ours:
            manager.add_handler(h, inherit=True)
        return manager
    return [*callbacks, *ours]
