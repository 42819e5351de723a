"""Cold-start benchmark: wall time of ``lgaudit --help`` and ``lgaudit runs`` in a fresh
interpreter, against ``python -c "import sqlalchemy, click"`` (the floor: the CLI needs both).

The store is a small one the benchmark records (the staging demo graph, twice) into a temp
SQLite file. Each command runs ``--reps`` times; the best is reported (start-up time is
noise-dominated upward only). Target (issue 18): each verb within 1.5x of the floor.

    python -m benchmarks.bench_cold_start --reps 5
    python -m benchmarks.bench_cold_start --root /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_RECORD = """
import sys
from lgaudit import Recorder
from lgaudit.demo import STAGING_INPUT, staging
with Recorder(sys.argv[1]) as rec:
    graph = rec.attach(staging())
    for thread in ("c", "d"):
        graph.invoke(dict(STAGING_INPUT), {"configurable": {"thread_id": thread}})
    print(" ".join(r["run_id"] for r in rec.store.runs(limit=2)))
"""


def best_of(cmd: list[str], reps: int, env: dict[str, str]) -> float:
    # run where lgaudit is imported from: ``-m`` puts the working directory first on sys.path
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        # exit 1 is an answer (differences, findings), not a failure
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, cwd=env["PYTHONPATH"])
        assert done.returncode in (0, 1), cmd
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--root", default=str(ROOT), help="Where lgaudit is imported from (compare checkouts)."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/cold.db"
        env = {**os.environ, "LGAUDIT_DB": url, "PYTHONPATH": args.root}
        # recorded by the lgaudit under test (its schema is the one its readers accept)
        a, b = subprocess.run(
            [sys.executable, "-c", _RECORD, url],
            env=env,
            cwd=args.root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        py = sys.executable
        floor = best_of([py, "-c", "import sqlalchemy, click"], args.reps, env)
        rows = [("python -c 'import sqlalchemy, click'", floor)]
        for verb in (["--help"], ["runs"], ["verify"], ["show", a], ["diff", a, b], ["audit", a]):
            t = best_of([py, "-m", "lgaudit.cli", *verb], args.reps, env)
            rows.append((f"lgaudit {' '.join(v if v not in (a, b) else 'RUN' for v in verb)}", t))
    print(f"| command | best of {args.reps} (s) | / floor |")
    print("|---|---:|---:|")
    for name, t in rows:
        print(f"| `{name}` | {t:.3f} | {t / floor:.2f}x |")


if __name__ == "__main__":
    main()
