"""Staging's other dimensions, put together: the pending threads' cases and the load run a
stage makes besides its cases, and the ``latency``, ``load``, ``pending`` and ``sandbox``
checks (each reported when the suite requires it or gives its table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lgaudit.stage.cases import CaseRun
from lgaudit.stage.checks import Check, failed
from lgaudit.stage.facts import RunFacts
from lgaudit.stage.latency import latency_check, latency_doc
from lgaudit.stage.load import LoadResult, load_check, run_load
from lgaudit.stage.pending import pending_case_list, pending_check
from lgaudit.stage.pool import run_cases
from lgaudit.stage.suite import Suite
from lgaudit.store import Store


def run_dimensions(
    suite: Suite, url: str, progress: Callable[[CaseRun], None] | None = None
) -> tuple[list[CaseRun], LoadResult | None]:
    """The ``[pending]`` cases (analyzed, as every case) and the ``[load]`` run."""
    pending = pending_cases(suite, url, progress) if suite.pending is not None else []
    load = run_load(suite, url) if suite.load_plan is not None else None
    return pending, load


def pending_cases(
    suite: Suite, url: str, progress: Callable[[CaseRun], None] | None = None
) -> list[CaseRun]:
    """Select the waiting threads and run a case for each (none waiting: no case)."""
    with Store.open(url) as store:
        cases = pending_case_list(store, suite)
    if hasattr(progress, "total"):  # the stage's count: these cases join its total
        progress.total += len(cases)  # type: ignore[union-attr]
    return run_cases(suite, url, cases, progress=progress)


def documents(
    cases: list[CaseRun], facts: dict[str, RunFacts], load: LoadResult | None
) -> dict[str, Any]:
    """The document's ``latency`` (and ``load``, when ``[load]`` ran)."""
    out: dict[str, Any] = {"latency": latency_doc(cases, facts)}
    if load is not None:
        out["load"] = load.to_json()
    return out


def more_checks(
    suite: Suite, cases: list[CaseRun], facts: dict[str, RunFacts], load: LoadResult | None
) -> list[Check]:
    def wanted(name: str, given: bool) -> bool:
        return name in suite.require or given

    limits = suite.latency
    out: list[Check] = []
    if wanted("latency", limits.max_case_seconds is not None or bool(limits.max_node_p95_seconds)):
        out.append(latency_check(suite, cases, facts))
    if wanted("load", suite.load_plan is not None):
        out.append(load_check(suite, load))
    if wanted("pending", suite.pending is not None):
        out.append(pending_check(cases))
    if wanted("sandbox", suite.tools is not None):
        out.append(sandbox_check(suite, cases, load))
    return out


def sandbox_check(suite: Suite, cases: list[CaseRun], load: LoadResult | None) -> Check:
    tools = suite.tools
    if tools is None:
        return Check("sandbox", False, "no [tools] table: every tool of the cases ran live")
    ran = [c for c in cases if c.kind != "traffic"] + (load.cases if load else [])
    if not ran:
        return Check("sandbox", False, "no scenario, fault or pending case ran a tool to sandbox")
    problems: list[str] = []
    for c in ran:
        problems += [f"{c.case}: tool {t} refused (no stand-in, not in live)" for t in c.refused]
        problems += [
            f"{c.case}: tool {t} ran live (not in [tools] live)"
            for t in c.ran_live
            if t not in tools.live
        ]
    if problems:
        return failed("sandbox", f"{len(problems)} tool call(s) outside the sandbox", problems)
    live = sorted({t for c in ran for t in c.ran_live})
    return Check(
        "sandbox",
        True,
        f"no tool ran live outside [tools] live in {len(ran)} cases"
        + (f" (live: {', '.join(live)})" if live else "")
        + (f"; stand-ins for {', '.join(tools.stand_ins)}" if tools.stand_ins else ""),
    )
