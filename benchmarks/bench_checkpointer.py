"""Checkpointer benchmark: lgaudit's ``AuditSaver`` against LangGraph's own savers.

Runs each workload of ``benchmarks.workloads`` (loop, growing, agent) in one process on:

* ``sqlite``:     LangGraph ``SqliteSaver`` vs ``AuditSaver(Store("sqlite:///file"))``
* ``postgresql``: LangGraph ``PostgresSaver`` vs ``AuditSaver(Store("postgresql+psycopg://..."))``

plus a no-checkpointer baseline (the graph's own cost), with a fresh database per
repetition (a new file in a temp dir; a new PostgreSQL database, dropped afterwards).
Only ``graph.invoke`` is timed: opening the saver, creating the schema and the sanity read
afterwards are not. Reports the median wall time per workload and backend, the time per
super-step, the checkpointer's own cost per super-step (wall minus the no-checkpointer
baseline), the lgaudit/LangGraph ratios, and the on-disk size of each database.

    python -m benchmarks.bench_checkpointer --reps 5
    python -m benchmarks.bench_checkpointer --workload growing --backend sqlite --steps 150
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.workloads import DEFAULT_WORKLOAD_STEPS, WORKLOADS, Workload

PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
DURABILITIES = ("async", "sync", "exit")


@dataclass
class Sample:
    seconds: float
    size: int | None  # bytes on disk (SQLite: db + wal; PostgreSQL: pg_database_size)
    data: int | None  # bytes kept (SQLite: db after a WAL checkpoint; PostgreSQL: tables)
    detail: str  # size breakdown
    steps: int  # super-steps the final checkpoint says were run


# -- databases ----------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_file() -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="lgaudit-bench-")
    try:
        yield os.path.join(tmp, "bench.db")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pg_parts() -> tuple[str, str]:
    base, _, _db = PG_ADMIN.rpartition("/")
    return base, PG_ADMIN


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database; yields its libpq URL (``postgresql://.../bench_xxx``)."""
    import psycopg

    base, admin = _pg_parts()
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_size(path: str) -> tuple[int, int, str]:
    """db + wal as left by the saver; the breakdown adds the db size once the WAL is
    checkpointed into it (``wal_checkpoint(TRUNCATE)``): the data actually kept."""
    db = os.path.getsize(path) if os.path.exists(path) else 0
    wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    conn = sqlite3.connect(path)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        conn.close()
    packed = os.path.getsize(path)
    return db + wal, packed, f"db {mb(db)} + wal {mb(wal)}" + (" (partial ckpt)" if busy else "")


def pg_size(url: str) -> tuple[int, int, str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        tables = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
    return int(total), int(tables), "pg_database_size"


def mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} MB"


# -- savers -------------------------------------------------------------------------------

# Each opener: a context manager yielding (checkpointer, size_fn). Setup happens inside it,
# outside the timed region.
Opener = Callable[[], contextlib.AbstractContextManager[tuple[Any, Callable[[], tuple[int, str]]]]]


@contextlib.contextmanager
def open_none() -> Iterator[tuple[Any, Callable[[], tuple[int, str]]]]:
    yield None, lambda: (0, 0, "")


@contextlib.contextmanager
def open_langgraph_sqlite() -> Iterator[tuple[Any, Callable[[], tuple[int, str]]]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite_file() as path:
        conn = sqlite3.connect(path, check_same_thread=False)
        try:
            saver = SqliteSaver(conn)
            saver.setup()
            yield saver, lambda: sqlite_size(path)
        finally:
            conn.close()


@contextlib.contextmanager
def open_lgaudit_sqlite() -> Iterator[tuple[Any, Callable[[], tuple[int, str]]]]:
    from lgaudit.store import AuditSaver, Store

    with sqlite_file() as path:
        store = Store(f"sqlite:///{path}")
        try:
            yield AuditSaver(store), lambda: sqlite_size(path)
        finally:
            store.close()


@contextlib.contextmanager
def open_langgraph_pg() -> Iterator[tuple[Any, Callable[[], tuple[int, str]]]]:
    from langgraph.checkpoint.postgres import PostgresSaver

    with pg_database() as url, PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        yield saver, lambda: pg_size(url)


@contextlib.contextmanager
def open_lgaudit_pg() -> Iterator[tuple[Any, Callable[[], tuple[int, str]]]]:
    from lgaudit.store import AuditSaver, Store

    with pg_database() as url:
        store = Store(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            yield AuditSaver(store), lambda: pg_size(url)
        finally:
            store.close()


class Recorded:
    """What a Recorder-based opener yields instead of a bare checkpointer: the recorder
    records the graph (``attach``) and is flushed inside the timed region."""

    def __init__(self, recorder: Any, *, callback: bool) -> None:
        self.recorder = recorder
        self.callback = callback

    def wrap(self, graph: Any) -> Any:
        if self.callback:
            return self.recorder.attach(graph)  # recording checkpointer + callback
        return graph.copy(update={"checkpointer": self.recorder.checkpointer})

    def finish(self) -> None:
        self.recorder.flush()


def _ready(rec: Any) -> None:
    """Setup, outside the timing (like opening a saver's connection): the recorder's
    writer process has started (unless ``LGAUDIT_WRITER=thread``)."""
    wait = getattr(rec.sink, "start_process", None)
    if wait is not None and os.environ.get("LGAUDIT_WRITER", "process") == "process":
        if not wait():
            raise RuntimeError("the recorder's writer process did not start")


#: What the guarded recorder enforces: every budget and rate limit, none of them reached
#: (the guard's cost is its counting and checks, plus the kill-order watch's thread).
GUARD_POLICY = {
    "budget": {
        "max_steps": 10**6,
        "max_node_repeats": 10**6,
        "max_llm_calls": 10**6,
        "max_tool_calls": 10**6,
        "max_tokens": 10**9,
    },
    "rate": {"max_llm_calls_per_minute": 10**6, "max_tool_calls_per_minute": 10**6},
}


def _open_recorder(backend: str, *, callback: bool, guard: Any = None) -> Opener:
    @contextlib.contextmanager
    def opener() -> Iterator[tuple[Any, Callable[[], tuple[int, str]]]]:
        from lgaudit import Recorder

        if backend == "sqlite":
            with sqlite_file() as path:
                with Recorder(f"sqlite:///{path}", guard=guard) as rec:
                    _ready(rec)
                    yield Recorded(rec, callback=callback), lambda: sqlite_size(path)
        else:
            with pg_database() as url:
                pg = url.replace("postgresql://", "postgresql+psycopg://", 1)
                with Recorder(pg, guard=guard) as rec:
                    _ready(rec)
                    yield Recorded(rec, callback=callback), lambda: pg_size(url)

    return opener


SAVERS: dict[str, dict[str, Opener]] = {
    "sqlite": {
        "langgraph": open_langgraph_sqlite,
        "lgaudit": open_lgaudit_sqlite,
        "batched": _open_recorder("sqlite", callback=False),
        "recorder": _open_recorder("sqlite", callback=True),
        "guarded": _open_recorder("sqlite", callback=True, guard=GUARD_POLICY),
    },
    "postgresql": {
        "langgraph": open_langgraph_pg,
        "lgaudit": open_lgaudit_pg,
        "batched": _open_recorder("postgresql", callback=False),
        "recorder": _open_recorder("postgresql", callback=True),
        "guarded": _open_recorder("postgresql", callback=True, guard=GUARD_POLICY),
    },
}
SAVER_NAMES = {
    ("sqlite", "langgraph"): "SqliteSaver",
    ("sqlite", "lgaudit"): "AuditSaver write-through (SQLite)",
    ("sqlite", "batched"): "Recorder.checkpointer batched (SQLite)",
    ("sqlite", "recorder"): "whole Recorder batched (SQLite)",
    ("sqlite", "guarded"): "whole Recorder batched, guard on (SQLite)",
    ("postgresql", "langgraph"): "PostgresSaver",
    ("postgresql", "lgaudit"): "AuditSaver write-through (PostgreSQL)",
    ("postgresql", "batched"): "Recorder.checkpointer batched (PostgreSQL)",
    ("postgresql", "recorder"): "whole Recorder batched (PostgreSQL)",
    ("postgresql", "guarded"): "whole Recorder batched, guard on (PostgreSQL)",
}


# -- running ------------------------------------------------------------------------------


def run_once(workload: Workload, opener: Opener, durability: str | None) -> Sample:
    with opener() as (saver, size_fn):
        recorded = saver if isinstance(saver, Recorded) else None
        graph = recorded.wrap(workload.build(None)) if recorded else workload.build(saver)
        config = workload.config(f"bench-{uuid.uuid4().hex[:8]}")
        inp = workload.input()
        kwargs = {"durability": durability} if (durability and saver is not None) else {}
        gc.collect()
        t0 = time.perf_counter()
        graph.invoke(inp, config, **kwargs)
        if recorded:
            recorded.finish()  # everything recorded is in the store inside the timing
        seconds = time.perf_counter() - t0
        steps = workload.supersteps
        size = data = None
        detail = ""
        if saver is not None:
            state = graph.get_state(config)  # sanity: the saver serves the final state back
            steps = int(state.metadata["step"])
            if steps != workload.supersteps:
                raise RuntimeError(f"{workload.name}: ran {steps} steps, not {workload.supersteps}")
            size, data, detail = size_fn()
        return Sample(seconds=seconds, size=size, data=data, detail=detail, steps=steps)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5, help="repetitions (fresh database each)")
    p.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    p.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="super-steps per invoke (default: loop/growing 300, agent 100)",
    )
    p.add_argument(
        "--durability",
        choices=DURABILITIES,
        default=None,
        help="LangGraph durability mode (default: LangGraph's, 'async')",
    )
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per saver")
    p.add_argument(
        "--impl",
        action="append",
        choices=["lgaudit", "batched", "recorder", "guarded"],
        help="lgaudit variants to run (default: all; LangGraph's saver always runs)",
    )
    args = p.parse_args(argv)

    workloads = list(WORKLOADS) if args.workload == "all" else [args.workload]
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    # samples[(workload, backend, impl)] -> [Sample]; impl in none / langgraph / lgaudit
    samples: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    built = {
        name: WORKLOADS[name](args.steps or DEFAULT_WORKLOAD_STEPS[name]) for name in workloads
    }
    plan: list[tuple[str, str, str, Opener]] = []
    for name in workloads:
        plan.append((name, "-", "none", open_none))
        for backend in backends:
            for impl, opener in SAVERS[backend].items():
                if impl == "langgraph" or not args.impl or impl in args.impl:
                    plan.append((name, backend, impl, opener))

    for _ in range(args.warmup):
        for name, _backend, _impl, opener in plan:
            run_once(built[name], opener, args.durability)
    for rep in range(args.reps):
        # interleave (and alternate the order of) savers so drift hits all of them alike
        order = plan if rep % 2 == 0 else list(reversed(plan))
        for name, backend, impl, opener in order:
            s = run_once(built[name], opener, args.durability)
            samples[(name, backend, impl)].append(s)
            print(
                f"  rep {rep + 1}/{args.reps} {name:8s} {backend:10s} {impl:9s} "
                f"{s.seconds * 1000:9.1f} ms  {mb(s.size)}",
                flush=True,
            )

    print()
    print(report(samples, built, workloads, backends, args))


def report(
    samples: dict[tuple[str, str, str], list[Sample]],
    built: dict[str, Workload],
    workloads: list[str],
    backends: list[str],
    args: argparse.Namespace,
) -> str:
    def med(key: tuple[str, str, str]) -> float:
        return statistics.median(s.seconds for s in samples[key])

    lines = [
        f"reps={args.reps} (median), durability={args.durability or 'async (default)'}, "
        f"super-steps: " + ", ".join(f"{n}={built[n].supersteps}" for n in workloads),
        "",
        "Wall time of one `invoke` (median), per super-step, and the checkpointer's own cost "
        "per super-step (wall minus the no-checkpointer baseline).",
        "",
        "| workload | backend | saver | wall (ms) | min..max (ms) | per step (ms) "
        "| saver cost / step (ms) | lgaudit / LangGraph (wall) "
        "| lgaudit / LangGraph (saver cost) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in workloads:
        steps = built[name].supersteps
        base = med((name, "-", "none"))
        runs = samples[(name, "-", "none")]
        lines.append(
            f"| {name} | - | no checkpointer | {base * 1e3:.1f} | "
            f"{min(s.seconds for s in runs) * 1e3:.1f}..{max(s.seconds for s in runs) * 1e3:.1f} "
            f"| {base / steps * 1e3:.3f} | - | - | - |"
        )
        for backend in backends:
            lg = med((name, backend, "langgraph"))
            for impl in [i for i in SAVERS[backend] if (name, backend, i) in samples]:
                runs = samples[(name, backend, impl)]
                m = la = med((name, backend, impl))
                ratio = ratio_cost = "-"
                if impl != "langgraph":
                    ratio = f"**{la / lg:.2f}x**"
                    cost_lg, cost_la = lg - base, la - base
                    ratio_cost = f"{cost_la / cost_lg:.2f}x" if cost_lg > 0 else "n/a"
                lines.append(
                    f"| {name} | {backend} | {SAVER_NAMES[(backend, impl)]} | {m * 1e3:.1f} | "
                    f"{min(s.seconds for s in runs) * 1e3:.1f}.."
                    f"{max(s.seconds for s in runs) * 1e3:.1f} | {m / steps * 1e3:.3f} | "
                    f"{(m - base) / steps * 1e3:.3f} | {ratio} | {ratio_cost} |"
                )
    lines += [
        "",
        "On-disk size after one invoke (median over reps). *on disk*: SQLite db file + WAL as "
        "the saver left them; PostgreSQL `pg_database_size` (includes the ~7.5 MB of an empty "
        "database). *data*: SQLite db file after `PRAGMA wal_checkpoint(TRUNCATE)`; "
        "PostgreSQL sum of `pg_total_relation_size` of the user tables (heap+indexes+TOAST).",
        "",
        "| workload | backend | saver | on disk | (breakdown, last rep) | data "
        "| lgaudit / LangGraph (on disk) | lgaudit / LangGraph (data) |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for name in workloads:
        for backend in backends:
            sizes: dict[str, float] = {}
            datas: dict[str, float] = {}
            for impl in [i for i in SAVERS[backend] if (name, backend, i) in samples]:
                runs = samples[(name, backend, impl)]
                sizes[impl] = statistics.median(s.size or 0 for s in runs)
                datas[impl] = statistics.median(s.data or 0 for s in runs)
                r1 = r2 = "-"
                if impl != "langgraph":
                    r1 = f"{sizes[impl] / sizes['langgraph']:.2f}x"
                    r2 = f"{datas[impl] / datas['langgraph']:.2f}x"
                lines.append(
                    f"| {name} | {backend} | {SAVER_NAMES[(backend, impl)]} | "
                    f"{mb(int(sizes[impl]))} | {runs[-1].detail} | {mb(int(datas[impl]))} "
                    f"| {r1} | {r2} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
