"""Which run a LangGraph call belongs to, and what this process remembers about runs.

``RunRegistry`` maps configs to runs: a run named in the config (``Recorder.attach`` puts it
on the run's LangGraph runtime, which LangGraph hands every task, subgraph and checkpoint
but never streams; a replay names it in the metadata, ``lgaudit_run_id``), the run a
recorder's callback began for a thread, or an implicit run per thread's top-level input.
``Unredacted`` keeps, for this process's checkpointer view only, the values redaction
masked in what was stored.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.checkpoint.base import CheckpointMetadata

from lgaudit.store.records import NewRun

#: The config metadata key naming the lgaudit run a replay's LangGraph call belongs to.
RUN_ID_KEY = "lgaudit_run_id"
#: LangGraph's configurable key for a run's ``Runtime`` (``CONFIG_KEY_RUNTIME``): a recorded
#: run's carries its run id as ``lgaudit_run_id``.
_RUNTIME_KEY = "__pregel_runtime"


def new_run_id() -> str:
    """A fresh random run id (a UUID4), made without ``uuid.uuid4``: recording takes none of
    the ids a graph's own code draws from it (a test that patches it sees the same ids)."""
    return str(uuid.UUID(bytes=os.urandom(16), version=4))


def config_run_id(config: Any) -> str | None:
    """The lgaudit run a LangGraph config belongs to: the one its runtime carries (a run
    ``attach`` started), or the one its metadata names (a replay's)."""
    if not config:
        return None
    runtime = (config.get("configurable") or {}).get(_RUNTIME_KEY)
    run_id = getattr(runtime, "lgaudit_run_id", None)
    return cast("str | None", run_id or (config.get("metadata") or {}).get(RUN_ID_KEY))


def current_run_id(metadata: Any = None) -> str | None:
    """In a callback or a node: the run its metadata names (a replay's), else the run of the
    config LangChain is running under (every runnable inside a graph's run inherits it)."""
    run_id = (metadata or {}).get(RUN_ID_KEY)
    return cast("str | None", run_id) or config_run_id(var_child_runnable_config.get())


#: Threads whose implicit run a checkpointer used on its own remembers (least recent first
#: forgotten).
IMPLICIT_THREADS = 10_000


class RunRegistry:
    """Maps LangGraph configs to runs: explicit (``config_run_id``) or implicit per thread."""

    def __init__(self, environment: str | None = None) -> None:
        self.environment = environment
        # the runs in progress (``register`` to ``forget``) and what is noted about them
        self._runs: dict[str, NewRun] = {}
        self._interrupted: set[str] = set()
        self._interrupt_ids: dict[str, set[Any]] = {}  # run -> interrupt ids recorded
        self._started: set[str] = set()
        # a checkpointer used on its own: the implicit run of each thread, which has no end
        # to be told of (an LRU: a thread idle past ``IMPLICIT_THREADS`` others starts a
        # new implicit run at its next checkpoint)
        self._implicit: OrderedDict[str, NewRun] = OrderedDict()
        self._threads: dict[str, NewRun] = {}  # thread -> its run begun by the callback
        self._lock = threading.Lock()

    def begin_thread_run(self, run: NewRun) -> None:
        """A run the callback began for a graph not ``attach``ed (its config names no run):
        the checkpoints of its thread belong to it until it ends."""
        with self._lock:
            self._runs[run.run_id] = run
            if run.thread_id:
                self._threads[run.thread_id] = run

    def thread_run(self, thread_id: str) -> NewRun | None:
        return self._threads.get(thread_id)

    def mark_started(self, run_id: str) -> bool:
        """Note that a run's ``run_start`` is recorded; ``True`` if it already was."""
        with self._lock:
            if run_id in self._started:
                return True
            self._started.add(run_id)
            return False

    def mark_interrupted(self, run_id: str, interrupt_ids: Sequence[Any] = ()) -> bool:
        """Note that a run was interrupted; ``False`` if every one of these interrupts was
        noted before (LangGraph writes a subgraph's interrupt in each enclosing graph)."""
        with self._lock:
            self._interrupted.add(run_id)
            ids = {i for i in interrupt_ids if i is not None}
            seen = self._interrupt_ids.get(run_id)
            if seen is None:
                seen = self._interrupt_ids[run_id] = set()
            elif ids and ids <= seen:
                return False
            seen |= ids
            return True

    def take_interrupted(self, run_id: str) -> bool:
        """Whether the run recorded an interrupt (and forget it)."""
        with self._lock:
            if run_id in self._interrupted:
                self._interrupted.discard(run_id)
                return True
            return False

    def register(self, run: NewRun) -> None:
        with self._lock:
            self._runs[run.run_id] = run

    def get(self, run_id: str) -> NewRun | None:
        """A run this process is recording, by id."""
        return self._runs.get(run_id)

    def in_progress(
        self, metadata: Any, run_id: Any = None, parent_run_id: Any = None
    ) -> NewRun | None:
        """The run in progress here that a callback event belongs to (what the guard and the
        kill check stop): the one its metadata or config names, else the run whose LangChain
        run it is or is a child of; ``None`` for anything else."""
        named = current_run_id(metadata)
        if named:
            return self.get(named)
        return self.for_callback(run_id, parent_run_id) if run_id else None

    def for_callback(
        self, run_id: Any, parent_run_id: Any = None, metadata: Any = None
    ) -> NewRun | None:
        """The run a LangChain callback event belongs to: the one its metadata or the config
        it runs under names (``current_run_id``), else the run whose LangChain run it is or
        is a child of (a recorded run's LangChain run id is its own: a graph's top-level
        chain and its tasks' starts, which fire before LangChain sets their config)."""
        named = current_run_id(metadata)
        if named:
            return self.for_config({"metadata": {RUN_ID_KEY: named}, "configurable": {}})
        for rid in (run_id, parent_run_id):
            run = self._runs.get(str(rid)) if rid is not None else None
            if run is not None:
                return run
        return None

    def forget(self, run_id: str) -> bool:
        """A run ended: forget it. ``True`` when no other run of its thread is in progress
        here (what is kept per thread may go too)."""
        with self._lock:
            run = self._runs.pop(run_id, None)
            if run is not None and run.thread_id and self._threads.get(run.thread_id) is run:
                del self._threads[run.thread_id]
            self._started.discard(run_id)
            self._interrupted.discard(run_id)
            self._interrupt_ids.pop(run_id, None)
            thread = run.thread_id if run is not None else None
            return thread is None or all(r.thread_id != thread for r in self._runs.values())

    def thread_active(self, thread_id: str) -> bool:
        """Whether a run of this thread is in progress here."""
        with self._lock:
            return any(r.thread_id == thread_id for r in self._runs.values())

    def _drop_interrupts(self, run_id: str) -> None:
        self._interrupted.discard(run_id)
        self._interrupt_ids.pop(run_id, None)

    def bookkeeping(self) -> dict[str, int]:
        """Sizes of what the registry remembers (for tests and diagnostics)."""
        return {
            "runs.runs": len(self._runs),
            "runs.threads": len(self._threads),
            "runs.started": len(self._started),
            "runs.interrupted": len(self._interrupted),
            "runs.interrupt_ids": len(self._interrupt_ids),
            "runs.implicit": len(self._implicit),
        }

    def for_config(
        self, config: RunnableConfig, metadata: CheckpointMetadata | None = None
    ) -> NewRun:
        run_id = config_run_id(config) or cast("str | None", (metadata or {}).get(RUN_ID_KEY))
        thread_id = str(config.get("configurable", {}).get("thread_id", ""))
        with self._lock:
            if run_id:
                run = self._runs.get(run_id)
                if run is None:  # not (or no longer) in progress here: not remembered
                    run = NewRun(run_id=run_id, thread_id=thread_id, environment=self.environment)
                return run
            begun = self._threads.get(thread_id)
            if begun is not None:
                return begun
            starts_run = bool(
                metadata is not None
                and metadata.get("source") == "input"
                and not config.get("configurable", {}).get("checkpoint_ns")
            )
            run = self._implicit.get(thread_id)
            if run is None or starts_run:
                if run is not None:
                    self._drop_interrupts(run.run_id)  # the thread's previous input's run
                run = NewRun(run_id=new_run_id(), thread_id=thread_id, environment=self.environment)
                self._implicit[thread_id] = run
                if len(self._implicit) > IMPLICIT_THREADS:
                    self._drop_interrupts(self._implicit.popitem(last=False)[1].run_id)
            self._implicit.move_to_end(thread_id)
            return run


class Unredacted:
    """What redaction masked in this process's checkpoints and writes, as it was.

    The store holds only masked values; a graph that reads its state back through this
    checkpointer (a resume, the next turn of a thread) gets what it wrote, while this
    process remembers it (bounded: the oldest are forgotten first). A thread continued in
    another process reads the masked values."""

    def __init__(self, max_bytes: int = 64 << 20, max_items: int = 20_000) -> None:
        self._values: OrderedDict[tuple[str, ...], tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_items = max_items
        self._lock = threading.Lock()

    def keep(self, key: tuple[str, ...], blob: tuple[str, bytes]) -> None:
        with self._lock:
            old = self._values.pop(key, None)
            self._bytes += len(blob[1]) - (len(old[1]) if old else 0)
            self._values[key] = blob
            while self._values and (
                self._bytes > self._max_bytes or len(self._values) > self._max_items
            ):
                _, dropped = self._values.popitem(last=False)
                self._bytes -= len(dropped[1])

    def get(self, key: tuple[str, ...]) -> tuple[str, bytes] | None:
        return self._values.get(key)
