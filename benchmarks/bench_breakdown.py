"""Where the whole recorder's time goes: what a recorded run costs over LangGraph's own
checkpointing, split by who spends it.

Runs each workload (``benchmarks.workloads``) alternately on:

* **floor**: the graph with a checkpointer that stores nothing and a callback handler that
  does nothing: what LangGraph itself spends on checkpointing and callback dispatch, which
  any checkpointer and any callback pays;
* **recorder**: ``Recorder(url).attach(graph)``, flushed inside the timing, as in
  ``bench_checkpointer``.

For the recorder it reports the CPU of the graph's process (all its threads; the writer
process and the database server are not in it) and of lgaudit's entry points, each timed
with ``time.thread_time`` in the thread that runs it: the callback's handlers (the graph's
thread, tool calls in ToolNode's threads), the checkpointer's ``put``/``put_writes``
(LangGraph's background thread), the batched writer handing batches to the writer process
(its thread); and the wait at the run's end for the writer process to commit what is still
queued, with the number of events queued then. Minimum and median over the repetitions:
on a shared machine the minimum is the better estimate of the work, the median of what a
user sees.

    python -m benchmarks.bench_breakdown --reps 9
    python -m benchmarks.bench_breakdown --workload growing --backend postgresql
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.checkpoint.base import BaseCheckpointSaver

from benchmarks.bench_checkpointer import BACKENDS, _ready, pg_database, sqlite_file
from benchmarks.workloads import DEFAULT_WORKLOAD_STEPS, WORKLOADS, Workload
from lgaudit import Recorder
from lgaudit.checkpointer.saver import AuditSaver
from lgaudit.recorder.batching import BatchedWriter
from lgaudit.recorder.callback import RecordingCallback


class NullSaver(BaseCheckpointSaver[str]):
    """Stores nothing: LangGraph's checkpointing machinery without a store behind it."""

    def get_tuple(self, config: Any) -> None:
        return None

    def list(self, *args: Any, **kwargs: Any) -> Any:
        return iter(())

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        conf = config["configurable"]
        return {
            "configurable": {
                "thread_id": conf["thread_id"],
                "checkpoint_ns": conf.get("checkpoint_ns", ""),
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(self, *args: Any, **kwargs: Any) -> None:
        return None


class NoopHandler(BaseCallbackHandler):
    """A callback handler that does nothing, run inline like lgaudit's."""

    run_inline = True

    def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_chain_end(self, *args: Any, **kwargs: Any) -> None:
        return None


_HANDLERS = (
    "on_chain_start",
    "on_chain_end",
    "on_chain_error",
    "on_chat_model_start",
    "on_llm_end",
    "on_tool_start",
    "on_tool_end",
)


class Meter:
    """Thread CPU of lgaudit's entry points (outermost calls only, per thread)."""

    def __init__(self) -> None:
        self.cpu: collections.Counter[str] = collections.Counter()
        self.flush_wait = 0.0
        self.queued_at_end = 0
        self._depth = threading.local()
        self._undo: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        for name in _HANDLERS:
            self._wrap(RecordingCallback, name, "callback")
        self._wrap(AuditSaver, "put", "put")
        self._wrap(AuditSaver, "put_writes", "put_writes")
        self._wrap(BatchedWriter, "_write", "writer thread")
        original = BatchedWriter.flush
        meter = self

        def flush(writer: BatchedWriter, timeout: float | None = None) -> None:
            queued, t0 = writer.pending, time.perf_counter()
            try:
                original(writer, timeout)
            finally:
                if timeout is not None:  # the run's end (``Recorder.end_run``)
                    meter.flush_wait += time.perf_counter() - t0
                    meter.queued_at_end += queued

        self._undo.append((BatchedWriter, "flush", original))
        BatchedWriter.flush = flush  # type: ignore[method-assign]

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def reset(self) -> None:
        self.cpu.clear()
        self.flush_wait = 0.0
        self.queued_at_end = 0

    def _wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        depth = self._depth
        cpu = self.cpu

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(depth, "inside", False):
                return original(*args, **kwargs)
            depth.inside = True
            t0 = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[label] += time.thread_time() - t0
                depth.inside = False

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)


def _invoke(graph: Any, w: Workload, config: dict[str, Any], finish: Callable[[], None]) -> Any:
    c0, m0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    graph.invoke(w.input(), config)
    finish()
    return time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0


def measure(workload: str, backend: str, reps: int, steps: int | None) -> list[dict[str, Any]]:
    make = WORKLOADS[workload]
    w = make(steps or DEFAULT_WORKLOAD_STEPS[workload])
    meter = Meter()
    rows: dict[str, list[dict[str, float]]] = {"floor": [], "recorder": []}
    with sqlite_file() if backend == "sqlite" else pg_database() as where:
        url = (
            f"sqlite:///{where}"
            if backend == "sqlite"
            else where.replace("postgresql://", "postgresql+psycopg://", 1)
        )
        with Recorder(url) as rec:
            _ready(rec)
            meter.install()
            try:
                for rep in range(reps + 1):  # the first of each is a warm-up
                    cfg = w.config(f"floor-{uuid.uuid4()}")
                    cfg["callbacks"] = [NoopHandler()]
                    wall, proc, main = _invoke(w.build(NullSaver()), w, cfg, lambda: None)
                    if rep:
                        rows["floor"].append({"wall": wall, "process": proc, "main": main})
                    meter.reset()
                    cfg = w.config(f"rec-{uuid.uuid4()}")
                    wall, proc, main = _invoke(rec.attach(w.build(None)), w, cfg, rec.flush)
                    if rep:
                        rows["recorder"].append(
                            {
                                "wall": wall,
                                "process": proc,
                                "main": main,
                                **{k: v for k, v in meter.cpu.items()},
                                "end flush wait": meter.flush_wait,
                                "queued at end": meter.queued_at_end,
                            }
                        )
            finally:
                meter.uninstall()
    out = []
    for name, samples in rows.items():
        keys = sorted({k for s in samples for k in s}, key=_ORDER.index)
        for key in keys:
            scale = 1 if key == "queued at end" else 1000  # a count; times in ms
            values = [s.get(key, 0.0) * scale for s in samples]
            out.append(
                {
                    "workload": workload,
                    "backend": backend,
                    "run": name,
                    "what": key,
                    "min": min(values),
                    "median": statistics.median(values),
                }
            )
    return out


_ORDER = [
    "wall",
    "process",
    "main",
    "callback",
    "put",
    "put_writes",
    "writer thread",
    "end flush wait",
    "queued at end",
]
_LABELS = {
    "wall": "wall (ms)",
    "process": "CPU of the graph's process, all threads (ms)",
    "main": "CPU of the graph's thread (ms)",
    "callback": "lgaudit callback handlers (ms)",
    "put": "lgaudit put (ms)",
    "put_writes": "lgaudit put_writes (ms)",
    "writer thread": "batched writer thread (ms)",
    "end flush wait": "run-end wait for the writer process (ms)",
    "queued at end": "events queued at the run's end",
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    p.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    p.add_argument("--steps", type=int, default=None)
    args = p.parse_args(argv)
    workloads = list(WORKLOADS) if args.workload == "all" else [args.workload]
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    print("| workload | backend | run | what | min | median |")
    print("|---|---|---|---|---:|---:|")
    for workload in workloads:
        for backend in backends:
            for r in measure(workload, backend, args.reps, args.steps):
                print(
                    f"| {r['workload']} | {r['backend']} | {r['run']} | {_LABELS[r['what']]} "
                    f"| {r['min']:.1f} | {r['median']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
