"""Read side at scale: ``verify`` over a store of ~200,000 recorded events.

The store is recorded for real: runs of the staging seed's 1,000-step plan -> execute ->
review loop (``benchmarks.workloads.loop``, ~4,000 events each: node events, checkpoints,
writes and their state rows) through ``Recorder``, into a fresh store per backend. ``verify``
is timed twice, when half the events are recorded and at the end, each in a fresh process
(``Store.open`` + ``Store.verify``, start-up excluded), with that process's peak RSS: equal
peaks at both sizes is the constant memory the streamed chain promises.
Target (issue 18): >= 100,000 events/s.

    python -m benchmarks.bench_read --events 200000
    python -m benchmarks.bench_read --backend sqlite --events 50000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.bench_audit import database
from benchmarks.workloads import loop
from lgaudit import Recorder

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    print("| backend | events | verify | events/s | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for backend in backends:
        for line in bench(backend, args.events):
            print(line, flush=True)


if __name__ == "__main__":
    main()
