"""``[load]``: the named scenarios run ``concurrency`` at a time, ``repeat`` cases in all,
each on a thread of its own, sharing one compiled graph and one memory store (one session:
one recorder). Each scenario is first run alone (``ALONE`` times) for the p95 to compare
with. The ``load`` check holds every load case to success, no ``state.unexplained_change``
in any of their runs (a value leaking across threads), the p95 slowdown under load and the
stage process's memory growth from the first tenth of the cases on."""

from __future__ import annotations

import itertools
import resource
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lgaudit.stage.cases import Case, CaseRun
from lgaudit.stage.checks import Check, failed
from lgaudit.stage.latency import percentile
from lgaudit.stage.runner import Session, analyze, execute_case
from lgaudit.stage.suite import Suite
from lgaudit.store import Store

#: runs of each load scenario alone, before the load, for ``alone_p95``
ALONE = 3


@dataclass
class LoadResult:
    """What ``[load]`` measured."""

    concurrency: int
    cases: list[CaseRun] = field(default_factory=list)
    alone: list[float] = field(default_factory=list)
    """Each alone case's seconds."""
    alone_runs: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    rss_growth_mb: float | None = None
    threads: dict[str, str] = field(default_factory=dict)
    """Each load run's thread."""

    def run_ids(self) -> list[str]:
        """Every run the load recorded (alone and under load)."""
        return [*self.alone_runs, *(r for c in self.cases for r in c.runs)]

    @property
    def p95(self) -> float | None:
        return percentile((c.seconds for c in self.cases), 95)

    @property
    def alone_p95(self) -> float | None:
        return percentile(self.alone, 95)

    @property
    def cases_per_s(self) -> float | None:
        return len(self.cases) / self.wall_s if self.wall_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 6)

        return {
            "cases": len(self.cases),
            "concurrency": self.concurrency,
            "p50": r(percentile((c.seconds for c in self.cases), 50)),
            "p95": r(self.p95),
            "alone_p95": r(self.alone_p95),
            "cases_per_s": r(self.cases_per_s),
            "rss_growth_mb": r(self.rss_growth_mb),
        }


def rss_mb() -> float:
    """This process's resident memory (MB): ``/proc`` where there is one, else its peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cycle(indexes: list[int], n: int) -> Iterator[int]:
    return itertools.islice(itertools.cycle(indexes), n)


def run_load(suite: Suite, url: str) -> LoadResult:
    """Run the load and analyze its cases (audit and verification included)."""
    plan = suite.load_plan
    assert plan is not None
    names = {s.name: i for i, s in enumerate(suite.scenarios)}
    indexes = [names[n] for n in plan.scenarios]
    result = LoadResult(plan.concurrency)
    session = Session(suite, url)
    if getattr(session.candidate, "store", None) is None and session.recorder.memory_store is None:
        from langgraph.store.memory import InMemoryStore

        session.recorder.memory_store = InMemoryStore()  # one memory store for every thread
    try:
        for i in _cycle(indexes, ALONE * len(indexes)):
            alone = Case(f"alone {suite.scenarios[i].name}", "scenario", scenario=i)
            ran = execute_case(session, alone)
            result.alone.append(ran.seconds)
            result.alone_runs += ran.runs
        cases = [
            Case(f"load {suite.scenarios[i].name} #{n + 1}", "scenario", scenario=i)
            for n, i in enumerate(_cycle(indexes, plan.repeat))
        ]
        tenth = max(1, len(cases) // 10)
        done = itertools.count(1)
        marks: dict[str, float] = {}
        lock = threading.Lock()

        def one(case: Case) -> CaseRun:
            run = execute_case(session, case)
            with lock:
                if next(done) == tenth:
                    marks["tenth"] = rss_mb()
            return run

        started = time.perf_counter()
        with ThreadPoolExecutor(plan.concurrency, thread_name_prefix="lgaudit-load") as pool:
            runs = list(pool.map(one, cases))
        result.wall_s = time.perf_counter() - started
        result.rss_growth_mb = rss_mb() - marks.get("tenth", rss_mb())
    finally:
        session.close()
    with Store.open(url) as store:
        for run in runs:
            run.kind = "load"
            result.cases.append(analyze(store, suite, run))
            for run_id in run.runs:
                result.threads[run_id] = str(store.run(run_id)["thread_id"])
    return result


def load_check(suite: Suite, load: LoadResult | None) -> Check:
    plan = suite.load_plan
    if load is None or plan is None:
        return Check("load", False, "no [load] table: the candidate was not run under load")
    bad = [c for c in load.cases if c.outcome != "passed"]
    problems = [f"{c.case}: {c.outcome}: {c.detail or c.status}" for c in bad]
    brief = [c.case for c in bad]
    for c in load.cases:
        for f in c.findings:
            if f.rule == "state.unexplained_change":
                where = f"thread {load.threads.get(f.run_id, '?')}"
                problems.append(
                    f"state.unexplained_change in {where} (run {f.run_id[:12]}, {c.case}): "
                    f"channel {f.channel} at step {f.step}: {f.message}"
                )
                brief.append(f"state.unexplained_change in {where}: channel {f.channel}")
    p95, alone = load.p95, load.alone_p95
    slowdown = p95 / alone if p95 is not None and alone else None
    if plan.max_p95_slowdown is not None and slowdown is not None:
        if slowdown > plan.max_p95_slowdown:
            problems.append(
                f"p95 under load {p95:.3f} s is {slowdown:.1f}x alone ({alone:.3f} s) > "
                f"max_p95_slowdown {plan.max_p95_slowdown:g}"
            )
            brief.append(problems[-1])
    growth = load.rss_growth_mb
    if plan.max_rss_growth_mb is not None and growth is not None:
        if growth > plan.max_rss_growth_mb:
            problems.append(
                f"RSS grew {growth:.1f} MB from the first tenth of the cases on > "
                f"max_rss_growth_mb {plan.max_rss_growth_mb:g}"
            )
            brief.append(problems[-1])
    doc = load.to_json()
    head = (
        f"{doc['cases']} cases at concurrency {doc['concurrency']}: p50 {doc['p50']:.3f} s, "
        f"p95 {doc['p95']:.3f} s (alone {doc['alone_p95']:.3f} s"
        + (f", {slowdown:.1f}x" if slowdown is not None else "")
        + f"), {doc['cases_per_s']:.1f} cases/s, RSS {growth or 0:+.1f} MB"
    )
    if problems:
        check = failed("load", f"{len(problems)} problem(s)", problems, brief)
        return replace(check, detail=f"{check.detail} ({head})", brief=f"{check.brief} ({head})")
    return Check("load", True, head)
