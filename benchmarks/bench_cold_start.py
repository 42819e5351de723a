"""Cold-start benchmark: wall time of ``lgaudit --help`` and ``lgaudit runs`` in a fresh
interpreter, against ``python -c "import sqlalchemy, click"`` (the floor: the CLI needs both).

The store is a small one the benchmark records (the staging demo graph once) into a temp
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


def best_of(cmd: list[str], reps: int, env: dict[str, str]) -> float:
    # run where lgaudit is imported from: ``-m`` puts the working directory first on sys.path
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=env["PYTHONPATH"])
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
        from lgaudit import Recorder
        from lgaudit.demo import STAGING_INPUT, staging

        with Recorder(url) as rec:
            rec.attach(staging()).invoke(dict(STAGING_INPUT), {"configurable": {"thread_id": "c"}})
        env = {**os.environ, "LGAUDIT_DB": url, "PYTHONPATH": args.root}
        py = sys.executable
        floor = best_of([py, "-c", "import sqlalchemy, click"], args.reps, env)
        rows = [("python -c 'import sqlalchemy, click'", floor)]
        for verb in (["--help"], ["runs"], ["verify"]):
            t = best_of([py, "-m", "lgaudit.cli", *verb], args.reps, env)
            rows.append((f"lgaudit {' '.join(verb)}", t))
    print(f"| command | best of {args.reps} (s) | / floor |")
    print("|---|---:|---:|")
    for name, t in rows:
        print(f"| `{name}` | {t:.3f} | {t / floor:.2f}x |")


if __name__ == "__main__":
    main()
