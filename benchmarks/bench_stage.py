"""Stage benchmark: 200 recorded runs of the demo's approval agent staged on an unchanged
candidate under a strict cassette, against the loop a user scripts today.

Traffic: 100 threads of ``lgaudit.demo:agent`` (an input run that stops at the human gate,
then the approving resume run): 200 runs, recorded through ``Recorder`` in environment
``production`` into a fresh store per backend (a temp SQLite file; a fresh PostgreSQL
database, dropped afterwards).

Timed:
* ``lgaudit.stage(suite)`` in this process (``--workers 1``, then 2): every run replayed on
  the candidate, diffed against its source, the suite runs audited and the chain verified;
  cases per second over the whole call. Each repetition adds 200 staged runs to the store.
* the user's loop: ``lgaudit replay RUN --graph lgaudit.demo:agent --json`` then
  ``lgaudit diff RUN REPLAY`` as subprocesses, for ``--loop-runs`` of the runs (each call
  pays its imports), extrapolated per run.

Target: >= 20 cases/s on one worker; two workers faster than one.

    python -m benchmarks.bench_stage --reps 3
    python -m benchmarks.bench_stage --backend sqlite --runs 200
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langgraph.types import Command

from benchmarks.bench_audit import database
from lgaudit import Recorder, stage
from lgaudit.demo import AGENT_INPUT, agent

SUITE = """
[suite]
name = "bench"
graph = "lgaudit.demo:agent"
environment = "staging"

[traffic]
environment = "production"
limit = {limit}
cassette = "strict"

[gate]
require = ["traffic", "observability", "audit"]
"""

CLI = "import sys; from lgaudit.cli import cli; sys.exit(cli())"


def record_traffic(url: str, runs: int) -> list[str]:
    with Recorder(url, environment="production") as rec:
        graph = rec.attach(agent())
        for i in range(runs // 2):
            config = {"configurable": {"thread_id": f"order-{i}"}}
            graph.invoke(dict(AGENT_INPUT), config)
            graph.invoke(Command(resume="approve"), config)
        rec.flush()
        return [r["run_id"] for r in rec.store.runs(limit=runs)]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (workers, writer processes)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_stage(suite: str, url: str, workers: int) -> tuple[float, float, int, str]:
    """Wall and CPU seconds of one stage, its case count and its verdict."""
    cpu, start = cpu_seconds(), time.perf_counter()
    result = stage(suite, url=url, workers=workers)
    elapsed = time.perf_counter() - start
    return elapsed, cpu_seconds() - cpu, len(result.cases), result.verdict


def time_loop(url: str, run_ids: list[str]) -> float:
    """Seconds per run of ``lgaudit replay`` + ``lgaudit diff`` subprocesses."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    start = time.perf_counter()
    for run_id in run_ids:
        out = subprocess.run(
            [sys.executable, "-c", CLI, "--db", url, "replay", run_id,
             "--graph", "lgaudit.demo:agent", "--json"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        replayed = json.loads(out)["run_id"]
        diffed = subprocess.run(
            [sys.executable, "-c", CLI, "--db", url, "diff", run_id, replayed],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert diffed.returncode == 0, diffed.stdout + diffed.stderr  # identical
    return (time.perf_counter() - start) / len(run_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--loop-runs", type=int, default=6)
    args = parser.parse_args()
    print("| backend | runs | how | cases | wall (s) | cases/s | per run (s) | CPU ms/case |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for backend in args.backend or ["sqlite", "postgresql"]:
        with database(backend) as url, tempfile.TemporaryDirectory() as tmp:
            run_ids = record_traffic(url, args.runs)
            suite = Path(tmp) / "suite.toml"
            suite.write_text(SUITE.format(limit=args.runs), encoding="utf-8")
            for workers in (1, 2):
                times, cpus = [], []
                for _ in range(args.reps):
                    elapsed, cpu, cases, verdict = time_stage(str(suite), url, workers)
                    assert verdict == "promote" and cases == args.runs, (verdict, cases)
                    times.append(elapsed)
                    cpus.append(cpu)
                wall, cpu = statistics.median(times), statistics.median(cpus)
                print(
                    f"| {backend} | {args.runs} | `lgaudit.stage`, {workers} worker(s) | "
                    f"{cases} | {wall:.2f} | {cases / wall:.1f} | {wall / cases:.3f} | "
                    f"{cpu / cases * 1000:.0f} |"
                )
            per_run = time_loop(url, run_ids[: args.loop_runs])
            print(
                f"| {backend} | {args.loop_runs} | `lgaudit replay` + `lgaudit diff` "
                f"subprocesses | {args.loop_runs} | {per_run * args.loop_runs:.2f} | "
                f"{1 / per_run:.2f} | {per_run:.3f} | - |"
            )


if __name__ == "__main__":
    main()
