"""Long-lived benchmark: one recorder serving many short runs, as inside a server.

A ten-step graph (ten nodes in a line, each updating a counter and a short text) is invoked
``--runs`` times on fresh threads (one ``thread_id`` per run), by ``--threads`` callers in
one process (threads for ``--mode sync``, concurrent tasks for ``--mode async``), with

* **recorder**: one ``Recorder(url)`` for the whole loop, ``recorder.attach(graph)``
  (checkpointer, callback, writer process started before the loop, like opening a
  connection), ``durability="batched"``; every run ends with the recorder's own
  end-of-run flush, so each run is in the store when its call returns;
* **langgraph**: LangGraph's own saver on the same backend (``SqliteSaver`` /
  ``AsyncSqliteSaver`` on one connection, ``PostgresSaver`` / ``AsyncPostgresSaver``).

Reported: the process's RSS (``VmRSS``) after every ``--every`` runs, its growth after the
first ``--every`` runs (what a leak looks like), and the wall time per run; with
``--impl both`` the recorder's time over LangGraph's. Each case runs in a fresh
subprocess so RSS figures do not mix.

    python -m benchmarks.bench_longlived                       # 5,000 runs, every case
    python -m benchmarks.bench_longlived --runs 50000 --backend sqlite --mode sync --threads 1
    python -m benchmarks.bench_longlived --case recorder,sqlite,sync,1 --runs 2000  # one case
    python -m benchmarks.bench_longlived --interleaved 10   # the time ratio on a busy machine

``--interleaved`` alternates blocks of 50 runs on the recorder and on LangGraph's saver in
one process (sync, one caller) and reports the median per-block ratio: on a shared machine
the load moves between cases run one after the other, not between neighbouring blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from benchmarks.bench_audit import database

STEPS = 10


class ShortState(TypedDict):
    request: str
    count: int
    note: str


def build() -> StateGraph:
    """The ten-step graph of a short request: ten nodes in a line."""

    def node(i: int) -> Callable[[ShortState], dict[str, Any]]:
        def step(state: ShortState) -> dict[str, Any]:
            return {"count": state["count"] + 1, "note": f"step {i} of {state['request']}"}

        step.__name__ = f"step_{i}"
        return step

    builder = StateGraph(ShortState)
    names = [f"step_{i}" for i in range(STEPS)]
    for i, name in enumerate(names):
        builder.add_node(name, node(i))
    builder.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def langgraph_saver(backend: str, url: str, mode: str) -> Iterator[Any]:
    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        if mode == "sync":
            import sqlite3

            from langgraph.checkpoint.sqlite import SqliteSaver

            conn = sqlite3.connect(path, check_same_thread=False)
            try:
                yield SqliteSaver(conn)
            finally:
                conn.close()
        else:
            yield ("sqlite-async", path)
        return
    pg = url.replace("postgresql+psycopg://", "postgresql://")
    if mode == "sync":
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(pg) as saver:
            saver.setup()
            yield saver
    else:
        yield ("postgres-async", pg)


async def _async_saver(spec: tuple[str, str]) -> Any:
    kind, where = spec
    if kind == "sqlite-async":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        return AsyncSqliteSaver.from_conn_string(where)
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    return AsyncPostgresSaver.from_conn_string(where)


def run_case(impl: str, backend: str, mode: str, threads: int, runs: int, every: int) -> dict:
    """One case in this process: RSS after every ``every`` runs and the time per run."""
    marks: list[tuple[int, float]] = []
    lock = threading.Lock()
    done = 0

    def tick() -> None:
        nonlocal done
        with lock:
            done += 1
            if done % every == 0:
                marks.append((done, rss_mb()))

    def one_input(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
        thread = f"t-{i}-{uuid.uuid4().hex[:8]}"
        return {"request": f"r{i}", "count": 0, "note": ""}, {"configurable": {"thread_id": thread}}

    with database(backend) as url:
        t0 = t1 = 0.0
        if impl == "recorder":
            from lgaudit import Recorder

            rec = Recorder(url)
            graph = rec.attach(build().compile())
            rec.sink.start_process()  # type: ignore[union-attr]
            try:
                t0, t1 = _drive(graph, mode, threads, runs, one_input, tick)
            finally:
                rec.close()
        elif mode == "sync":
            with langgraph_saver(backend, url, mode) as saver:
                graph = build().compile(checkpointer=saver)
                t0, t1 = _drive(graph, mode, threads, runs, one_input, tick)
        else:
            with langgraph_saver(backend, url, mode) as spec:

                async def main() -> tuple[float, float]:
                    async with await _async_saver(spec) as saver:
                        if hasattr(saver, "setup"):
                            await saver.setup()
                        graph = build().compile(checkpointer=saver)
                        return await _adrive(graph, threads, runs, one_input, tick)

                t0, t1 = asyncio.run(main())
    first = marks[0][1] if marks else float("nan")
    return {
        "impl": impl,
        "backend": backend,
        "mode": mode,
        "threads": threads,
        "runs": runs,
        "ms_per_run": (t1 - t0) / runs * 1000,
        "rss_mb": [round(m, 1) for _, m in marks],
        "growth_after_first_mb": round(marks[-1][1] - first, 1) if marks else None,
    }


def _drive(
    graph: Any,
    mode: str,
    threads: int,
    runs: int,
    one_input: Callable[[int], tuple[dict[str, Any], dict[str, Any]]],
    tick: Callable[[], None],
) -> tuple[float, float]:
    if mode == "async":
        return asyncio.run(_adrive(graph, threads, runs, one_input, tick))

    def call(i: int) -> None:
        graph.invoke(*one_input(i))
        tick()

    gc.collect()
    t0 = time.perf_counter()
    if threads == 1:
        for i in range(runs):
            call(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(call, range(runs)))
    return t0, time.perf_counter()


async def _adrive(
    graph: Any,
    threads: int,
    runs: int,
    one_input: Callable[[int], tuple[dict[str, Any], dict[str, Any]]],
    tick: Callable[[], None],
) -> tuple[float, float]:
    queue = iter(range(runs))

    async def worker() -> None:
        for i in queue:
            await graph.ainvoke(*one_input(i))
            tick()

    gc.collect()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(threads)))
    return t0, time.perf_counter()


def interleaved(backend: str, blocks: int, per_block: int) -> dict:
    """Short-run time on a shared machine: blocks of ``per_block`` runs on the recorder and
    on LangGraph's saver, alternately, in one process (sync, one caller): the median of the
    per-block ratios compares the two under the same load."""
    from lgaudit import Recorder

    with database(backend) as url, database(backend) as lg_url:
        rec = Recorder(url)
        recorded = rec.attach(build().compile())
        rec.sink.start_process()  # type: ignore[union-attr]
        times: dict[str, list[float]] = {"recorder": [], "langgraph": []}
        try:
            with langgraph_saver(backend, lg_url, "sync") as saver:
                graphs = {"recorder": recorded, "langgraph": build().compile(checkpointer=saver)}
                for _ in range(blocks):
                    for name, graph in graphs.items():
                        t0 = time.perf_counter()
                        for i in range(per_block):
                            graph.invoke({"request": f"r{i}", "count": 0, "note": ""}, {
                                "configurable": {"thread_id": uuid.uuid4().hex}})  # fmt: skip
                        times[name].append((time.perf_counter() - t0) / per_block * 1000)
        finally:
            rec.close()
    ratios = sorted(a / b for a, b in zip(times["recorder"], times["langgraph"], strict=True))
    return {
        "backend": backend,
        "recorder_ms": statistics.median(times["recorder"]),
        "langgraph_ms": statistics.median(times["langgraph"]),
        "ratio_median": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
    }


def _subprocess(case: str, runs: int, every: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_longlived", "--case", case, "--runs", str(runs),
         "--every", str(every)],
        check=True, capture_output=True, text=True, env=os.environ,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5_000)
    p.add_argument("--every", type=int, default=1_000)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--mode", choices=["sync", "async", "both"], default="both")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    p.add_argument("--impl", choices=["recorder", "langgraph", "both"], default="both")
    p.add_argument("--case", help="impl,backend,mode,threads: run one case here, print JSON")
    p.add_argument(
        "--interleaved",
        type=int,
        metavar="BLOCKS",
        help="only the time ratio: BLOCKS alternating blocks of 50 runs per backend",
    )
    args = p.parse_args(argv)
    if args.interleaved:
        for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
            print(json.dumps(interleaved(backend, args.interleaved, 50)), flush=True)
        return
    if args.case:
        impl, backend, mode, threads = args.case.split(",")
        print(json.dumps(run_case(impl, backend, mode, int(threads), args.runs, args.every)))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    modes = ["sync", "async"] if args.mode == "both" else [args.mode]
    impls = ["langgraph", "recorder"] if args.impl == "both" else [args.impl]
    print(f"# {args.runs} runs of a {STEPS}-step graph on fresh threads; load average "
          f"{os.getloadavg()[0]:.2f} at start")  # fmt: skip
    print(
        "| backend | mode | threads | saver | ms / run | ratio | RSS after each "
        f"{args.every} runs (MB) | growth after the first {args.every} (MB) |"
    )
    print("|---|---|---:|---|---:|---:|---|---:|")
    for backend in backends:
        for mode in modes:
            for threads in args.threads:
                base = None
                for impl in impls:
                    r = _subprocess(f"{impl},{backend},{mode},{threads}", args.runs, args.every)
                    if impl == "langgraph":
                        base = r["ms_per_run"]
                    print(_row(r, base if impl != "langgraph" else None), flush=True)


def _row(r: dict, base: float | None) -> str:
    ratio = f"{r['ms_per_run'] / base:.2f}x" if base else "-"
    name = "Recorder (attach)" if r["impl"] == "recorder" else "LangGraph saver"
    rss = " ".join(f"{m:.0f}" for m in r["rss_mb"])
    cells = [r["backend"], r["mode"], r["threads"], name, f"{r['ms_per_run']:.2f}", ratio, rss]
    return "| " + " | ".join(map(str, cells)) + f" | {r['growth_after_first_mb']:+.1f} |"


if __name__ == "__main__":
    main()
