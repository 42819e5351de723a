"""Streaming benchmark: ``lgaudit export RUN`` and ``lgaudit show --json RUN`` of long runs,
as a user runs them (a fresh interpreter each): time to the first output, total time and the
process's peak RSS, for a run and a run twice its length. Streaming shows as a first output
that does not wait for the whole run and a peak RSS that does not grow with the run.

Runs are recorded through ``Recorder`` with the staging seed's loop
(``benchmarks.workloads.loop``, 4 events a step) into a fresh store per backend (a temp
SQLite file; a fresh PostgreSQL database, dropped afterwards). Output goes to a pipe that is
read and dropped. Figures are medians of ``--reps``.

    python -m benchmarks.bench_stream --steps 2520
    python -m benchmarks.bench_stream --root /path/to/other/checkout --backend sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_audit import database, record
from lgaudit import Store

ROOT = Path(__file__).resolve().parents[1]


def run_cli(url: str, args: list[str], root: str) -> tuple[float, float, int, int]:
    """(seconds to the first output byte, seconds in all, peak RSS in MB, bytes written)."""
    env = {**os.environ, "LGAUDIT_DB": url, "PYTHONPATH": root}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lgaudit.cli", *args], env=env, cwd=root, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    first = proc.stdout.read(1)
    t_first = time.perf_counter() - start
    size = len(first)
    while chunk := proc.stdout.read(1 << 16):
        size += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (args, proc.returncode)
    return t_first, total, usage.ru_maxrss // 1024, size


def bench(backend: str, steps: int, reps: int, root: str) -> list[str]:
    lines = []
    with database(backend) as url:
        runs = [record(url, n, f"long-{n}") for n in (steps, 2 * steps)]
        with Store.open(url) as store:
            counts = [store.run(r)["event_count"] for r in runs]
        for run_id, n in zip(runs, counts, strict=True):
            for verb in (["export"], ["show", "--json"]):
                got = [run_cli(url, [*verb, run_id], root) for _ in range(reps)]
                first, total, rss, size = (statistics.median(x) for x in zip(*got, strict=True))
                lines.append(
                    f"| {backend} | `lgaudit {' '.join(verb)}` | {n:,} events | "
                    f"{size / 1e6:.1f} MB | {first:.2f} s | {total:.2f} s | {rss:.0f} MB |"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--steps", type=int, default=2520, help="Steps of the shorter run.")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--root", default=str(ROOT), help="Where the CLI imports lgaudit from (compare checkouts)."
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    print("| backend | command | run | output | first output | total | peak RSS |")
    print("|---|---|---|---:|---:|---:|---:|")
    for backend in backends:
        for line in bench(backend, args.steps, args.reps, args.root):
            print(line, flush=True)


if __name__ == "__main__":
    main()
