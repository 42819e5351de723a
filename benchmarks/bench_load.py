"""Load benchmark: the ``[load]`` runner's throughput at concurrency 1, 4 and 16, and the
recorder's correctness under it.

Each level stages a suite whose ``[load]`` runs the demo agent's "email approved" scenario
(the model asks to send an email, the simulated human approves at ``human_review``, the
tool runs: two runs per case) ``--repeat`` times, ``concurrency`` at a time, each case on a
thread of its own, sharing one compiled graph and one recorder, into a fresh store per
backend (a temp SQLite file; a fresh PostgreSQL database, dropped afterwards).

Reported per level: cases/s (the load's own figure: its cases over its wall time), p50 and
p95 case seconds, p95 alone, RSS growth; and the correctness of what was recorded: every
load case's runs hold exactly the events of the same case run alone (kind by kind: no event
lost or duplicated), every run verifies, the whole chain verifies.

    python -m benchmarks.bench_load
    python -m benchmarks.bench_load --backend sqlite --repeat 64
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.bench_audit import database
from lgaudit import Store, stage

SUITE = """
[suite]
name = "bench-load"
graph = "lgaudit.demo:agent"
environment = "staging"

[[scenario]]
name = "email approved"
input = {{ messages = [{{ type = "human", content = "Email the Q3 report to the CFO." }}] }}
humans = ["approve"]
expect = {{ status = "succeeded", state = {{ approved = true }} }}

[load]
scenarios = ["email approved"]
concurrency = {concurrency}
repeat = {repeat}

[gate]
require = ["scenarios", "load"]
"""


def kinds(store: Store, runs: list[str]) -> Counter[str]:
    return Counter(e["kind"] for r in runs for e in store.events(r))


def level(url: str, concurrency: int, repeat: int, folder: Path) -> dict[str, Any]:
    path = folder / f"load-{concurrency}.toml"
    path.write_text(SUITE.format(concurrency=concurrency, repeat=repeat), encoding="utf-8")
    result = stage(str(path), url=url)
    load = result.dimensions["load"]
    check = result.check("load")
    with Store.open(url) as store:
        [scenario] = result.cases
        alone = kinds(store, list(scenario.runs))
        by_case: dict[str, list[str]] = {}
        for run_id in result.load_runs:
            spec = (store.run(run_id)["replay"] or {}).get("stage") or {}
            by_case.setdefault(str(spec.get("case")), []).append(run_id)
        cases = {c: r for c, r in by_case.items() if c.startswith("load ")}
        differing = [c for c, runs in cases.items() if kinds(store, runs) != alone]
        runs_ok = all(store.verify(run=r)["ok"] for runs in cases.values() for r in runs)
        chain_ok = store.verify()["ok"]
    return {
        "concurrency": concurrency,
        "cases": load["cases"],
        "cases_per_s": load["cases_per_s"],
        "p50": load["p50"],
        "p95": load["p95"],
        "alone_p95": load["alone_p95"],
        "rss_growth_mb": load["rss_growth_mb"],
        "load_check": check.ok,
        "cases_recorded": len(cases),
        "events_differ": len(differing),
        "runs_verify": runs_ok,
        "chain_verifies": chain_ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=48)
    parser.add_argument("--levels", default="1,4,16")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print("| backend | concurrency | cases | cases/s | p50 s | p95 s | p95 alone s | RSS growth MB "
          "| load check | events as alone | runs verify | chain verifies |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend in backends:
        with database(backend) as url, tempfile.TemporaryDirectory() as d:
            for concurrency in (int(x) for x in args.levels.split(",")):
                r = level(url, concurrency, args.repeat, Path(d))
                same = f"{r['cases_recorded'] - r['events_differ']}/{r['cases_recorded']}"
                print(
                    f"| {backend} | {concurrency} | {r['cases']} | {r['cases_per_s']:.1f} | "
                    f"{r['p50']:.3f} | {r['p95']:.3f} | {r['alone_p95']:.3f} | "
                    f"{r['rss_growth_mb']:+.1f} | {'ok' if r['load_check'] else 'FAIL'} | "
                    f"{same} | {r['runs_verify']} | {r['chain_verifies']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
