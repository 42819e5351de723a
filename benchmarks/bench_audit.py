"""Audit benchmark: ``diff`` of two 1,000-step runs and ``audit`` of a 10,000-event run.

Runs are recorded through ``Recorder``, into a fresh store per backend (a temp SQLite file;
a fresh PostgreSQL database, dropped afterwards), with one of three workloads
(``benchmarks.workloads``): ``loop``, the staging seed's plan -> execute -> review loop
(constant-size state); ``growing``, the same loop adding a 1 KB message a step to a list
(the state grows as a chat agent's ``messages`` does); ``agent``, a ReAct agent (fake
tool-calling model, ``ToolNode``) whose ``messages`` history grows by two a turn. Each
is timed two ways (median of ``--reps``, fewer when one rep passes ``--budget`` seconds):
in-process, the library call on a newly opened ``Store`` (no warm caches); and as a user
runs it, ``lgaudit diff A B`` / ``lgaudit audit RUN --policy FILE`` in a fresh interpreter,
start-up included (``python -m lgaudit.cli``, where ``--root`` points; ``--no-cli`` skips
it). Targets (issues 18, 26): each under 1 s.

    python -m benchmarks.bench_audit --reps 3
    python -m benchmarks.bench_audit --backend sqlite --workload growing
    python -m benchmarks.bench_audit --root /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.workloads import WORKLOADS
from lgaudit import Policy, Recorder, Store, audit, diff

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
POLICY = Policy.from_dict(
    {
        "approval": {
            "gates": ["human_review"],
            "protected": ["tool:send_email"],
            "state_key": "approved",
        },
        "budget": {"max_steps": 100_000, "max_node_repeats": 100_000, "max_tokens": 10**9},
        "state": {"owners": {"output": ["execute"]}},
    }
)
POLICY_TOML = """
[approval]
gates = ["human_review"]
protected = ["tool:send_email"]
state_key = "approved"

[budget]
max_steps = 100000
max_node_repeats = 100000
max_tokens = 1000000000

[state]
owners = { output = ["execute"] }
"""


@contextlib.contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/bench.db"
        return
    import psycopg

    name = f"lgaudit_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            + f"/{name}"
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: workload -> (steps of each diffed run, steps of the audited run: ~10,000 events)
SIZES = {"loop": (1000, 2520), "growing": (1000, 2500), "agent": (1000, 1670)}


def record(url: str, steps: int, thread: str, workload: str = "loop") -> str:
    w = WORKLOADS[workload](steps=steps)
    with Recorder(url) as rec:
        graph = rec.attach(w.build(None))
        graph.invoke(w.input(), w.config(thread))
        rec.flush()
        return rec.store.runs(thread_id=thread, limit=1)[0]["run_id"]


def timed(
    url: str, fn: Callable[[Store], Any], reps: int, budget: float = 60.0
) -> tuple[float, Any]:
    times, cpu, result = [], [], None
    for _ in range(reps):
        with Store.open(url) as store:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = fn(store)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        if sum(times) > budget:
            break
    print(
        f"  in-process: wall {', '.join(f'{t:.2f}' for t in times)} s, "
        f"CPU {', '.join(f'{t:.2f}' for t in cpu)} s",
        file=sys.stderr,
    )
    return statistics.median(times), result


def timed_cli(url: str, args: list[str], reps: int, root: str, budget: float = 60.0) -> float:
    """Median wall time of ``lgaudit ARGS`` in a fresh interpreter (exit 1 is an answer:
    differences, error findings)."""
    env = {**os.environ, "LGAUDIT_DB": url, "PYTHONPATH": root}
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "lgaudit.cli", *args],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        times.append(time.perf_counter() - start)
        assert done.returncode in (0, 1), (args, done.stderr)
        if sum(times) > budget:
            break
    print(f"  {args[0]} CLI: {', '.join(f'{t:.2f}' for t in times)} s", file=sys.stderr)
    return statistics.median(times)


def bench(
    backend: str, reps: int, root: str, workload: str = "loop", cli: bool = True, budget: float = 60
) -> list[str]:
    lines = []
    diff_steps, audit_steps = SIZES[workload]
    with database(backend) as url:
        a = record(url, diff_steps, "diff-a", workload)
        b = record(url, diff_steps, "diff-b", workload)
        big = record(url, audit_steps, "audit-big", workload)
        with Store.open(url) as store:
            events_ab = store.run(a)["event_count"], store.run(b)["event_count"]
            events_big = store.run(big)["event_count"]
        t_diff, d = timed(url, lambda s: diff(s, a, b), reps, budget)
        assert d.identical and len(d.steps) >= 999, "two runs of one graph must be identical"
        t_audit, r = timed(url, lambda s: audit(s, [big], POLICY), reps, budget)
        if workload != "agent":
            assert not r.findings or {f.rule for f in r.findings} == {"approval.forged"}
        cli_diff = cli_audit = None
        if cli:
            with tempfile.TemporaryDirectory() as d:
                policy = Path(d) / "policy.toml"
                policy.write_text(POLICY_TOML)
                cli_diff = timed_cli(url, ["diff", a, b], reps, root, budget)
                cli_audit = timed_cli(
                    url, ["audit", big, "--policy", str(policy)], reps, root, budget
                )
        shown = lambda t: "—" if t is None else f"{t:.2f} s"  # noqa: E731
        lines.append(
            f"| {backend} | {workload} | diff, 2 × {diff_steps}-step runs ({events_ab[0]} + "
            f"{events_ab[1]} events) | {t_diff:.2f} s | {shown(cli_diff)} |"
        )
        lines.append(
            f"| {backend} | {workload} | audit with a full policy, {events_big}-event run "
            f"({len(r.findings)} findings) | {t_audit:.2f} s | {shown(cli_audit)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--workload", choices=[*SIZES, "all"], default="all", help="Default: every one."
    )
    parser.add_argument("--no-cli", action="store_true", help="Time the library calls only.")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="Stop repeating past this many seconds."
    )
    parser.add_argument(
        "--root", default=str(ROOT), help="Where the CLI imports lgaudit from (compare checkouts)."
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    workloads = list(SIZES) if args.workload == "all" else [args.workload]
    print(
        "| backend | workload | operation | in-process (median) "
        "| `lgaudit` CLI, fresh process (median) |"
    )
    print("|---|---|---|---:|---:|")
    for backend in backends:
        for workload in workloads:
            for line in bench(
                backend, args.reps, args.root, workload, not args.no_cli, args.budget
            ):
                print(line, flush=True)


if __name__ == "__main__":
    main()
