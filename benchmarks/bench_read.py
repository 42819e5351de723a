"""Read side at scale: ``verify`` over a store of up to 1,000,000 recorded events, ``runs``
over a store of 100,000 runs.

The store is recorded for real: runs of the staging seed's 1,000-step plan -> execute ->
review loop (``benchmarks.workloads.loop``, ~4,000 events each: node events, checkpoints,
writes and their state rows) through ``Recorder``, into a fresh store per backend. ``verify``
is timed twice, when half the events are recorded and at the end, each in a fresh process
(``Store.open`` + ``Store.verify``, start-up excluded), with the peak RSS of that process
and of its workers: equal peaks at both sizes is the constant memory the streamed chain
promises. Each is timed both ways verify can run: in segments by two worker processes
(what a store of 200,000+ events gets where two cores are idle) and in one pass, with the
CPU seconds spent (the process and its workers), which on a shared machine say more than
the wall time.
``--store URL`` times an existing store instead of recording one (e.g. a 1M-event store
kept from an earlier run with ``--keep PATH``, SQLite only). Target (issue 18): >= 100,000
events/s, 1M events < 10 s.

The runs store is appended directly (``Store.append``, batches of 6,000 events): each run a
``run_start``, an ``llm_end`` and a ``run_end`` (every 1,000th a ``run_error``). ``Store.runs``
is timed (median of 3, on an open store) as ``lgaudit runs`` calls it: the 50 newest, with
each ``--status`` (the runs that can have it found in SQL, their status derived from their
events), and with ``--limit`` none (every run listed). Target: ``lgaudit runs`` < 0.5 s.

    python -m benchmarks.bench_read --events 1000000 --runs 100000      # ~25 min
    python -m benchmarks.bench_read --backend sqlite --events 50000 --runs 0
    python -m benchmarks.bench_read --backend sqlite --store sqlite:////tmp/v.db --runs 0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.bench_audit import database
from benchmarks.workloads import loop
from lgaudit import Recorder, Store
from lgaudit.store import NewEvent, NewRun

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ("failed", "succeeded", "interrupted", "running", "abandoned")
_VERIFY = """
import json, resource, sys, time
from lgaudit import Store
from lgaudit.log import verify
if sys.argv[2] == "one pass":
    verify.PARALLEL_FROM = 1 << 62
else:  # two workers, however busy the machine (verify takes the idle cores only)
    verify._workers = lambda: 2
with Store.open(sys.argv[1]) as store:
    t0, c0 = time.perf_counter(), time.process_time()
    result = store.verify()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"ok": result["ok"], "events": result["events_checked"], "seconds": seconds,
                  "cpu": cpu + kids.ru_utime + kids.ru_stime,
                  "rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024}))
"""
MODES = ("segments", "one pass")


def record(url: str, runs: int, first: int) -> None:
    w = loop(steps=1000)
    with Recorder(url) as rec:
        graph = rec.attach(w.build(None))
        for i in range(first, first + runs):
            graph.invoke(w.input(), w.config(f"read-{i}"))
        rec.flush()


def verify(url: str, mode: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _VERIFY, url, mode],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    result: dict[str, Any] = json.loads(out.stdout)
    assert result["ok"], "a freshly recorded store must verify"
    return result


def bench(backend: str, events: int, store: str | None, keep: str | None) -> list[str]:
    runs = max(2, round(events / 4000))
    lines = []
    with contextlib.ExitStack() as stack:
        url = store or (f"sqlite:///{keep}" if keep else stack.enter_context(database(backend)))
        sizes = [0] if store else [runs // 2, runs]
        done = 0
        for target in sizes:
            if target:
                record(url, target - done, done)
                done = target
            for mode in MODES:
                r = verify(url, mode)
                lines.append(
                    f"| {backend} | {r['events']:,} | {mode} | {r['seconds']:.2f} s | "
                    f"{r['events'] / r['seconds']:,.0f} | {r['cpu']:.1f} s "
                    f"({r['cpu'] / r['events'] * 1e6:.1f} µs/event) | {r['rss_mb']:.0f} MB |"
                )
    return lines


def append_runs(url: str, n: int) -> None:
    base = 1_765_000_000_000_000
    with Store(url) as store:
        batch: list[NewEvent] = []
        for i in range(n):
            ts = base + i * 1000
            run = NewRun(run_id=str(uuid.UUID(int=i + 1)), thread_id=f"t{i % 1000}", started_at=ts)
            usage = {"model": "m", "usage": {"total_tokens": 5}}
            end = ("run_error", {"error": {"type": "E"}}) if i % 1000 == 0 else ("run_end", {})
            batch += [
                NewEvent(run=run, kind="run_start", payload={}, ts=ts),
                NewEvent(run=run, kind="llm_end", payload=usage, ts=ts + 1),
                NewEvent(run=run, kind=end[0], payload=end[1], ts=ts + 2),
            ]
            if len(batch) >= 6000:
                store.append(batch)
                batch = []
        store.append(batch)


def bench_runs(backend: str, n: int) -> list[str]:
    lines = []
    with database(backend) as url:
        append_runs(url, n)
        with Store.open(url) as store:
            calls: list[tuple[str, dict[str, Any]]] = [("`lgaudit runs` (50 newest)", {})]
            calls += [(f"`lgaudit runs --status {s}`", {"status": s}) for s in STATUSES]
            calls += [("every run (`limit=None`)", {"limit": None})]
            for label, kwargs in calls:
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    found = store.runs(**kwargs)
                    times.append(time.perf_counter() - t0)
                lines.append(
                    f"| {backend} | {n:,} | {label} | {len(found):,} | "
                    f"{statistics.median(times):.3f} s |"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--store", help="time verify on this existing store (no recording)")
    parser.add_argument("--keep", help="record the SQLite store at this path and keep it")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if args.store:  # that store's backend only
        backends = ["postgresql" if args.store.startswith("postgres") else "sqlite"]
    if args.keep and backends != ["sqlite"]:
        parser.error("--keep keeps a SQLite store: add --backend sqlite")
    if args.events or args.store:
        print("| backend | events | verify | time | events/s | CPU (all processes) | peak RSS |")
        print("|---|---:|---|---:|---:|---:|---:|")
    for backend in backends:
        timed_verify = args.events or args.store
        for line in bench(backend, args.events, args.store, args.keep) if timed_verify else []:
            print(line, flush=True)
    if args.runs:
        print("\n| backend | runs in store | call | runs returned | median |")
        print("|---|---:|---|---:|---:|")
        for backend in backends:
            for line in bench_runs(backend, args.runs):
                print(line, flush=True)


if __name__ == "__main__":
    main()
