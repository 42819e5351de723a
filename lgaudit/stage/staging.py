"""``stage(suite)``: run a staging suite against a candidate graph and give one verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lgaudit.audit.findings import Finding
from lgaudit.audit.policy import Policy
from lgaudit.errors import BadInputError
from lgaudit.replay.spec import load_graph
from lgaudit.review import record_stage_result
from lgaudit.stage.arguments import check_stage
from lgaudit.stage.cases import (
    Case,
    CaseRun,
    fault_cases,
    scenario_cases,
    select_traffic,
    traffic_cases,
)
from lgaudit.stage.checks import Check, coverage, gate_checks
from lgaudit.stage.dims import documents, more_checks, run_dimensions
from lgaudit.stage.facts import RunFacts
from lgaudit.stage.pool import run_cases
from lgaudit.stage.preflight import check_prices, check_scenarios
from lgaudit.stage.suite import Suite
from lgaudit.store import Store


@dataclass(frozen=True)
class StageCase:
    """One case of a stage, as ``lgaudit stage --json`` prints it (``to_json``); ``detail``
    (why it failed), ``runs`` (all its runs), ``noise`` (paths that differ between the
    ``baseline_runs``) and ``diff`` (against its source) are for the text and HTML reports."""

    case: str
    kind: str
    run_id: str | None
    source_run_id: str | None
    status: str
    outcome: str
    first_divergence: dict[str, Any] | None
    findings: tuple[Finding, ...]
    tokens: int
    cost_usd: float | None
    detail: str | None = None
    runs: tuple[str, ...] = ()
    noise: tuple[str, ...] = ()
    baseline_runs: tuple[str, ...] = ()
    diff: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "kind": self.kind,
            "run_id": self.run_id,
            "source_run_id": self.source_run_id,
            "status": self.status,
            "outcome": self.outcome,
            "first_divergence": self.first_divergence,
            "findings": [f.to_json() for f in self.findings],
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class StageResult:
    """The result of ``stage``. ``verdict`` is ``promote`` only when every check the
    suite's ``[gate] require`` names holds; ``to_json()`` is ``lgaudit stage --json``."""

    suite: str
    graph: str
    verdict: str
    checks: tuple[Check, ...]
    cases: tuple[StageCase, ...]
    coverage: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    require: tuple[str, ...] = ()
    policy: Policy | None = None
    """The audit policy of the suite (its [approval], [budget], [state] tables)."""
    stage_id: str | None = None
    """The stored stage result (``lgaudit stages``, ``lgaudit signoff STAGE``)."""
    dimensions: dict[str, Any] = field(default_factory=dict)
    """``latency`` (and ``load`` when ``[load]`` ran): staging's other dimensions."""
    load_runs: tuple[str, ...] = ()
    """The runs ``[load]`` recorded (its cases are not among ``cases``)."""

    @property
    def promoted(self) -> bool:
        return self.verdict == "promote"

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage_id": self.stage_id,
            "suite": self.suite,
            "graph": self.graph,
            "verdict": self.verdict,
            "checks": [c.to_json() for c in self.checks],
            "cases": [c.to_json() for c in self.cases],
            "coverage": self.coverage,
            "require": list(self.require),
            **self.dimensions,
        }


def stage(
    suite: str | Path | Suite,
    *,
    url: str | None = None,
    graph: str | None = None,
    workers: int = 1,
    progress: Callable[[int, int, int], None] | None = None,
) -> StageResult:
    """Run every case of a suite against the candidate graph and judge it.

    Args:
        suite: a suite file (TOML, SPEC "Staging") or a loaded ``Suite``.
        url: the store (``None``: ``$LGAUDIT_DB``, else ``sqlite:///lgaudit.db``); the
            recorded traffic is read from it and every case is recorded into it.
        graph: ``module:attr`` of the candidate, overriding ``[suite] graph``.
        workers: cases run in this many processes (1: in this one).
        progress: called after each case with (cases done, cases in all, regressions);
            the fault matrix's cases join the total when the other cases are done.

    Bad input — the suite, an unknown graph, a ``[traffic]`` selection that matches no run,
    a scenario ``input`` key the candidate's input schema lacks, a model the selected
    traffic called that ``[envelope] prices`` leaves out — raises ``BadInputError`` before
    any case runs (nothing is recorded).
    """
    suite = check_stage(suite, graph=graph, url=url, workers=workers)
    candidate = _import(suite, "--graph" if graph else "suite.graph", suite.graph)
    if suite.baseline:
        _import(suite, "suite.baseline", suite.baseline)
    check_scenarios(suite, candidate)
    # traffic is read from an existing store; scenarios alone may start a new one
    with Store.open(url) if suite.traffic else Store(url) as store:
        url = store.url
        sources = select_traffic(store, suite) if suite.traffic else []
        check_prices(store, suite, sources)
    cases = traffic_cases(sources) + scenario_cases(suite)
    done = _Tracker(progress, len(cases))
    runs = run_cases(suite, url, cases, workers=workers, progress=done)
    if suite.fault_matrix:
        faults = fault_cases(_seen(cases, runs))
        done.total += len(faults)  # known once the candidate showed its nodes, tools, models
        runs += run_cases(suite, url, faults, workers=workers, progress=done)
    pending, load = run_dimensions(suite, url, done)
    runs += pending
    facts = {r: f for c in runs for r, f in c.facts.items()}
    findings = [f for c in runs for f in c.findings]
    broken = {r: why for c in runs for r, why in c.broken.items()}
    cover = coverage(runs, facts)
    checks = gate_checks(suite, runs, facts, findings, cover, broken)
    _gate_answers(cover, suite, runs)
    checks += more_checks(suite, runs, facts, load)
    killed = any(f.rule == "guard.killed" for f in findings)  # a killed case is no pass
    held = all(c.ok for c in checks if c.name in suite.require)
    verdict = "promote" if held and not killed else "block"
    result = StageResult(
        suite=suite.name,
        graph=suite.graph,
        verdict=verdict,
        checks=tuple(checks),
        cases=tuple(_case(c, bool(suite.prices)) for c in runs),
        coverage=cover,
        require=suite.require,
        policy=suite.policy,
        dimensions=documents(runs, facts, load),
        load_runs=tuple(load.run_ids()) if load else (),
    )
    with Store(url) as store:  # the result, kept in the chain for review and sign-off
        stage_id = record_stage_result(store, result.to_json())
    return replace(result, stage_id=stage_id)


def _gate_answers(
    cover: dict[str, list[dict[str, Any]]], suite: Suite, runs: list[CaseRun]
) -> None:
    """Give each gate of the coverage its simulated humans' answers: the scenario cases
    that answered it approving (``approve``) and rejecting (``reject``)."""
    answers: dict[str, dict[str, list[str]]] = {}
    for c in runs:
        if c.kind != "scenario":
            continue
        for gate, value, _run_id in c.answers:
            word = "approve" if suite.policy.approves(value) else "reject"
            names = answers.setdefault(gate, {"approve": [], "reject": []})[word]
            if c.case not in names:
                names.append(c.case)
    for entry in cover.get("gates", []):
        entry["answers"] = answers.get(entry["name"], {"approve": [], "reject": []})


def _import(suite: Suite, key: str, ref: str) -> Any:
    try:
        return load_graph(ref)
    except BadInputError as e:
        raise BadInputError(f"{suite.path}: {key}: {e}") from None


class _Tracker:
    """Calls ``progress`` after each case with the cases done and in all (one count over
    the whole stage: the fault cases are added to ``total`` once they are known)."""

    def __init__(self, progress: Callable[[int, int, int], None] | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self.regressions = 0

    def __call__(self, run: CaseRun) -> None:
        self.done += 1
        self.regressions += run.outcome in ("changed", "failed", "timeout", "broken")
        if self.progress is not None:
            self.progress(self.done, self.total, self.regressions)


def _seen(cases: list[Case], runs: list[CaseRun]) -> dict[str, dict[str, Case]]:
    """Each node, tool and model the candidate's runs showed, with the first case that
    showed it (the fault's carrier)."""
    seen: dict[str, dict[str, Case]] = {"node": {}, "tool": {}, "llm": {}}
    for case, run in zip(cases, runs, strict=True):
        for run_id in run.runs:
            f = run.facts.get(run_id) or RunFacts()
            for kind, names in (("node", f.nodes), ("tool", f.tools), ("llm", f.models)):
                for name in names:
                    seen[kind].setdefault(name, case)
    return seen


def _case(run: CaseRun, priced: bool) -> StageCase:
    mine = [run.facts.get(r) or RunFacts() for r in run.runs]
    known = priced and not any(f.unpriced for f in mine)
    return StageCase(
        case=run.case,
        kind=run.kind,
        run_id=run.run_id,
        source_run_id=run.source_run_id,
        status=run.status,
        outcome=run.outcome,
        first_divergence=run.first_divergence,
        findings=tuple(run.findings),
        tokens=sum(f.tokens for f in mine),
        cost_usd=round(sum(f.cost_usd for f in mine), 6) if known else None,
        detail=run.detail,
        runs=tuple(run.runs),
        noise=tuple(run.noise),
        baseline_runs=tuple(run.baseline_runs),
        diff=run.diff,
        seconds=run.seconds,
    )
