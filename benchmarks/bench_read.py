"""Read side at scale: ``verify`` over a store of ~200,000 recorded events, ``runs`` over a
store of 100,000 runs.

The store is recorded for real: runs of the staging seed's 1,000-step plan -> execute ->
review loop (``benchmarks.workloads.loop``, ~4,000 events each: node events, checkpoints,
writes and their state rows) through ``Recorder``, into a fresh store per backend. ``verify``
is timed twice, when half the events are recorded and at the end, each in a fresh process
(``Store.open`` + ``Store.verify``, start-up excluded), with that process's peak RSS: equal
peaks at both sizes is the constant memory the streamed chain promises.
Target (issue 18): >= 100,000 events/s.

The runs store is appended directly (``Store.append``, batches of 6,000 events): each run a
``run_start``, an ``llm_end`` and a ``run_end`` (every 1,000th a ``run_error``). ``Store.runs``
is timed (median of 3, on an open store) as ``lgaudit runs`` calls it, with ``--status
failed`` (every run's status derived), and with ``--limit`` none (every run listed).
Target: ``lgaudit runs`` < 0.5 s.

    python -m benchmarks.bench_read --events 200000 --runs 100000
    python -m benchmarks.bench_read --backend sqlite --events 50000 --runs 0
"""

from __future__ import annotations

import argparse
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
_VERIFY = """
import json, resource, sys, time
from lgaudit import Store
with Store.open(sys.argv[1]) as store:
    t0 = time.perf_counter()
    result = store.verify()
    seconds = time.perf_counter() - t0
print(json.dumps({"ok": result["ok"], "events": result["events_checked"], "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def record(url: str, runs: int, first: int) -> None:
    w = loop(steps=1000)
    with Recorder(url) as rec:
        graph = rec.attach(w.build(None))
        for i in range(first, first + runs):
            graph.invoke(w.input(), w.config(f"read-{i}"))
        rec.flush()


def verify(url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _VERIFY, url], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    result: dict[str, Any] = json.loads(out.stdout)
    assert result["ok"], "a freshly recorded store must verify"
    return result


def bench(backend: str, events: int) -> list[str]:
    runs = max(2, round(events / 4000))
    lines = []
    with database(backend) as url:
        done = 0
        for target in (runs // 2, runs):
            record(url, target - done, done)
            done = target
            r = verify(url)
            lines.append(
                f"| {backend} | {r['events']:,} | {r['seconds']:.2f} s | "
                f"{r['events'] / r['seconds']:,.0f} | {r['rss_mb']:.0f} MB |"
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
            for label, kwargs in (
                ("`lgaudit runs` (50 newest)", {}),
                ("`lgaudit runs --status failed`", {"status": "failed"}),
                ("every run (`limit=None`)", {"limit": None}),
            ):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    found = store.runs(**kwargs)  # type: ignore[arg-type]
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
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if args.events:
        print("| backend | events | verify | events/s | peak RSS |")
        print("|---|---:|---:|---:|---:|")
    for backend in backends:
        for line in bench(backend, args.events) if args.events else []:
            print(line, flush=True)
    if args.runs:
        print("\n| backend | runs in store | call | runs returned | median |")
        print("|---|---:|---|---:|---:|")
        for backend in backends:
            for line in bench_runs(backend, args.runs):
                print(line, flush=True)


if __name__ == "__main__":
    main()
