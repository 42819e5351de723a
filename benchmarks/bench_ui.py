"""``lgaudit ui`` page times: a 1,000-step run's page, the diff of two 1,000-step runs, and
``/`` on a store of many runs (targets, issue 24: < 1 s, < 1 s, < 0.5 s).

The 1,000-step runs are the staging seed's plan -> execute -> review loop
(``benchmarks.workloads.loop``) recorded through ``Recorder``; the second with another
input, so every execute step's output differs from the first's (the diff page then shows
~330 highlighted differences), and a third with the same input (an identical diff). The
many-run store is appended directly as ``bench_read`` does (3 events a run). Each page is
fetched through the app in-process (Starlette's TestClient: routing, the store, the
template, no network), median of 3 after one warm-up; a diff is kept for the next page of
it, so the cache is emptied before each timed diff (a first open) and the next page is timed
apart.

    python -m benchmarks.bench_ui --backend sqlite --runs 20000
    python -m benchmarks.bench_ui --backend sqlite --steps 0 --runs 100000 --store URL
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from benchmarks.bench_audit import database
from benchmarks.bench_read import append_runs
from benchmarks.workloads import loop
from lgaudit import Recorder
from lgaudit.ui import create_app


def record_loop(url: str, steps: int, thread: str, text: str) -> str:
    w = loop(steps=steps)
    with Recorder(url) as rec:
        graph = rec.attach(w.build(None))
        graph.invoke({**w.input(), "input": text}, w.config(thread))
        rec.flush()
        return rec.store.runs(thread_id=thread, limit=1)[0]["run_id"]


def timed(
    get: Callable[[], Any], reps: int = 3, reset: Callable[[], None] = lambda: None
) -> tuple[float, Any]:
    get()
    times, answer = [], None
    for _ in range(reps):
        reset()
        t0 = time.perf_counter()
        answer = get()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), answer


def bench_steps(backend: str, steps: int) -> list[str]:
    lines = []
    with database(backend) as url:
        a = record_loop(url, steps, "ui-a", "Quarterly financial report")
        b = record_loop(url, steps, "ui-b", "Quarterly financial report (revised)")
        c = record_loop(url, steps, "ui-c", "Quarterly financial report")
        app = create_app(url)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            pages = [
                (f"`/runs/RUN` ({steps}-step run, first page of 100 steps)", f"/runs/{a}"),
                (f"`/runs/RUN?page=10` ({steps}-step run)", f"/runs/{a}?page=10"),
                (
                    f"`/diff/A/B` (two {steps}-step runs, every execute step differs)",
                    f"/diff/{a}/{b}",
                ),  # fmt: skip
                (f"`/diff/A/B` (two {steps}-step runs, identical)", f"/diff/{a}/{c}"),
                ("`/api/runs/RUN` (`show --json`)", f"/api/runs/{a}"),
            ]
            for label, path in pages:
                # a diff is kept for its next page: each timed ask is a first open
                seconds, answer = timed(
                    lambda p=path: client.get(p), reset=app.state.ui.cache.clear
                )
                assert answer.status_code == 200, (path, answer.status_code)
                kb = len(answer.content) / 1024
                lines.append(f"| {backend} | {label} | {kb:,.0f} KB | {seconds:.3f} s |")
            kept = f"/diff/{a}/{b}?page=2"
            seconds, answer = timed(lambda: client.get(kept))
            assert answer.status_code == 200
            label = "`/diff/A/B?page=2` (the next page of a diff just opened: kept)"
            lines.append(f"| {backend} | {label} | {len(answer.content) / 1024:,.0f} KB | "
                         f"{seconds:.3f} s |")  # fmt: skip
    return lines


def bench_runs(backend: str, n: int, store: str | None = None) -> list[str]:
    lines = []
    with contextlib.ExitStack() as stack:
        url = store or stack.enter_context(database(backend))
        t0 = time.perf_counter()
        if store is None:
            append_runs(url, n)
        built = time.perf_counter() - t0
        with TestClient(create_app(url), base_url="http://127.0.0.1") as client:
            for label, path in [
                ("`/` (50 newest, counts per status)", "/"),
                ("`/?status=failed`", "/?status=failed"),
                ("`/?page=20`", "/?page=20"),
                ("`/api/runs`", "/api/runs"),
            ]:
                seconds, answer = timed(lambda p=path: client.get(p))
                assert answer.status_code == 200, (path, answer.status_code)
                lines.append(f"| {backend} | {n:,} runs (built in {built:.0f} s) | {label} | "
                             f"{seconds:.3f} s |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--store", help="time `/` on this store of runs instead of building one")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    for backend in backends:
        if args.steps:
            print("\n".join(bench_steps(backend, args.steps)))
        if args.runs:
            print("\n".join(bench_runs(backend, args.runs, args.store)))


if __name__ == "__main__":
    main()
