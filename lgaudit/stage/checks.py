"""The gate: the coverage and the seven checks, each with a detail a reviewer can act on.

Pure functions over what the cases' runs showed (``RunFacts``) and their audit findings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lgaudit.audit.findings import Finding
from lgaudit.stage.cases import CaseRun
from lgaudit.stage.facts import RunFacts, add
from lgaudit.stage.suite import Suite
from lgaudit.stage.words import divergence, shorten

_SHOWN = 3  # items named in a check's detail before "and N more"


@dataclass(frozen=True)
class Check:
    """One check of the gate: ``name`` as in ``[gate] require``, ``ok``, and a ``detail``
    saying what failed and where (or what held)."""

    name: str
    ok: bool
    detail: str
    brief: str | None = None
    """The detail as the text report prints it (``None``: the detail as it is): the cases a
    check names are printed with their own line, so only named here, and other long
    messages are cut (``detail``, in ``--json``, keeps the whole text)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def coverage(cases: list[CaseRun], facts: dict[str, RunFacts]) -> dict[str, list[dict[str, Any]]]:
    """Every node, tool, model and gate the candidate's traffic and scenario runs showed,
    and whether a case faulted it (a recovery path only a fault case took is not listed:
    faulting it would need a second fault)."""
    faulted = {t for c in cases for t in c.faulted}
    seen: dict[str, list[str]] = {"nodes": [], "tools": [], "models": [], "gates": []}
    for c in cases:
        if c.kind in ("fault", "pending"):  # a pending thread's nodes are production's
            continue
        for run_id in c.runs:
            f = facts.get(run_id)
            if f is None:
                continue
            for key, names in (
                ("nodes", f.nodes),
                ("tools", f.tools),
                ("models", f.models),
                ("gates", f.gates),
            ):
                for name in names:
                    add(seen[key], name)
    prefix = {"nodes": "node", "tools": "tool", "models": "llm", "gates": "node"}
    return {
        key: [{"name": n, "faulted": f"{prefix[key]}:{n}" in faulted} for n in names]
        for key, names in seen.items()
    }


def gate_checks(
    suite: Suite,
    cases: list[CaseRun],
    facts: dict[str, RunFacts],
    findings: list[Finding],
    cover: dict[str, list[dict[str, Any]]],
    broken: dict[str, str],
) -> list[Check]:
    """The seven checks, in SPEC's order. ``broken``: runs whose chain does not verify."""
    return [
        _traffic(suite, cases),
        _scenarios(suite, cases),
        _faults(suite, cases, cover),
        _oversight(suite, cases, facts, findings),
        _observability(cases, facts, broken),
        _envelope(suite, cases, facts, findings),
        _audit(cases, findings),
    ]


def _listing(items: list[str]) -> str:
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def failed(name: str, head: str, items: list[str], brief: list[str] | None = None) -> Check:
    """A failing check naming ``items`` (each whole in the detail); the text report shows
    ``brief`` instead when given (the cases' names), else each item cut."""
    short = brief if brief is not None else [shorten(i) for i in items]
    return Check(name, False, f"{head}: {_listing(items)}", f"{head}: {_listing(short)}")


def _traffic(suite: Suite, cases: list[CaseRun]) -> Check:
    traffic = [c for c in cases if c.kind == "traffic"]
    if not traffic:
        return Check(
            "traffic", False, "no [traffic]: the candidate was not tested on recorded runs"
        )
    bad = [c for c in traffic if c.outcome in ("changed", "failed", "timeout")]
    noise = sum(c.outcome == "noise" for c in traffic)
    head = (
        f"{len(bad)} regression(s) in {len(traffic)} recorded runs "
        f"(max_regressions = {suite.max_regressions}; {noise} noise)"
    )
    if not bad:
        return Check("traffic", True, head)
    items = [f"{c.case} (from {str(c.source_run_id)[:12]}): {_divergence(c)}" for c in bad]
    check = failed("traffic", head, items, [c.case for c in bad])
    return replace(check, ok=len(bad) <= suite.max_regressions)


def _divergence(c: CaseRun) -> str:
    fd = c.first_divergence
    if fd is None:
        return c.detail or c.status
    return f"{divergence(fd)}; `lgaudit diff {str(c.source_run_id)[:12]} {str(c.run_id)[:12]}`"


def _scenarios(suite: Suite, cases: list[CaseRun]) -> Check:
    runs = [c for c in cases if c.kind == "scenario"]
    if not runs:
        return Check("scenarios", False, "no [[scenario]] in the suite")
    bad = [c for c in runs if c.outcome != "passed"]
    if bad:
        return failed(
            "scenarios",
            f"{len(bad)} of {len(runs)} failed",
            [f"scenario {c.case!r}: {c.detail}" for c in bad],
            [f"scenario {c.case!r}" for c in bad],
        )
    return Check("scenarios", True, f"all {len(runs)} scenarios met their expect")


def _faults(suite: Suite, cases: list[CaseRun], cover: dict[str, list[dict[str, Any]]]) -> Check:
    if not suite.fault_matrix:
        return Check("faults", False, "the fault matrix is off: set [faults] matrix = true")
    missed = [
        f"{kind[:-1]} {item['name']}"
        for kind in ("nodes", "tools", "models")
        for item in cover[kind]
        if not item["faulted"]
    ]
    runs = [c for c in cases if c.kind == "fault"]
    bad = [f"{c.case}: {c.detail or c.status}" for c in runs if c.outcome in ("failed", "timeout")]
    problems = [*(f"never faulted: {m}" for m in missed), *bad]
    if problems:
        return failed("faults", f"{len(problems)} problem(s)", problems)
    recovered = sum(c.outcome == "recovered" for c in runs)
    return Check(
        "faults",
        True,
        f"{len(runs)} targets faulted: {recovered} recovered, "
        f"{len(runs) - recovered} failed cleanly",
    )


def _oversight(
    suite: Suite, cases: list[CaseRun], facts: dict[str, RunFacts], findings: list[Finding]
) -> Check:
    policy = suite.policy
    if not policy.gates:
        return Check("oversight", False, "the suite's [approval] names no gates to exercise")
    answered: dict[str, set[bool]] = {g: set() for g in policy.gates}
    problems: list[str] = []
    for c in cases:
        if c.kind != "scenario":
            continue
        for gate, value, run_id in c.answers:
            approved = policy.approves(value)
            answered.setdefault(gate, set()).add(approved)
            if approved:
                continue
            shown = facts.get(run_id) or RunFacts()
            reached = [p for p in policy.protected if _ran(p, shown)]
            if reached:
                problems.append(
                    f"scenario {c.case!r} rejected at {gate}, yet {', '.join(reached)} ran "
                    f"(run {run_id[:12]})"
                )
    for gate in policy.gates:
        for approved, word in ((True, "approving"), (False, "rejecting")):
            if approved not in answered[gate]:
                problems.append(f"gate {gate} was never answered {word} by a simulated human")
    candidate = {r for c in cases for r in c.runs}
    for f in findings:
        if f.rule.startswith("approval.") and f.run_id in candidate:
            problems.append(f"{f.rule} in run {f.run_id[:12]}: {f.message}")
    if problems:
        return failed("oversight", f"{len(problems)} problem(s)", problems)
    return Check(
        "oversight",
        True,
        f"gates {', '.join(policy.gates)} answered approving and rejecting; "
        "no rejection reached a protected node",
    )


def _names(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _ran(protected: str, facts: RunFacts) -> bool:
    if protected.startswith("tool:"):
        return protected[5:] in facts.tools
    return protected in facts.nodes


def _observability(
    cases: list[CaseRun], facts: dict[str, RunFacts], broken: dict[str, str]
) -> Check:
    problems: list[str] = []
    runs = [r for c in cases for r in c.runs]
    for run_id in runs:
        if run_id in broken:
            problems.append(f"run {run_id[:12]} does not verify: {broken[run_id]}")
        f = facts.get(run_id)
        if f is not None and f.gaps:
            problems.append(f"run {run_id[:12]}: {', '.join(f.gaps)}")
    if problems:
        return failed("observability", f"{len(problems)} problem(s)", problems)
    return Check(
        "observability",
        True,
        f"{len(runs)} runs verify, with node, model (token usage) and tool events",
    )


def _envelope(
    suite: Suite, cases: list[CaseRun], facts: dict[str, RunFacts], findings: list[Finding]
) -> Check:
    problems: list[str] = []
    unpriced: list[str] = []
    total = 0.0
    limit = suite.policy.max_cost_usd
    for c in cases:
        for run_id in c.runs:
            f = facts.get(run_id) or RunFacts()
            for model in f.unpriced:
                add(unpriced, model)
            if c.kind != "fault":
                total += f.cost_usd
            if limit is not None and f.cost_usd > limit:
                problems.append(
                    f"{c.case}: run {run_id[:12]} cost ${f.cost_usd:.4f} > max_cost_usd ${limit}"
                )
    if unpriced:
        problems.insert(
            0, f"no price for model(s) {', '.join(unpriced)}: add them to [envelope] prices"
        )
    if suite.max_total_cost_usd is not None and total > suite.max_total_cost_usd:
        problems.append(f"suite cost ${total:.4f} > max_total_cost_usd ${suite.max_total_cost_usd}")
    candidate = {r for c in cases for r in c.runs}
    for found in findings:
        if found.rule.startswith("budget.") and found.rule != "budget.cost":
            if found.run_id in candidate:
                problems.append(f"{found.rule} in run {found.run_id[:12]}: {found.message}")
    grown, size = _state_size(suite, cases)
    problems += grown
    if problems:
        return failed("envelope", f"{len(problems)} problem(s)" + size, problems)
    return Check("envelope", True, f"suite cost ${total:.4f}{size}; every run within its limits")


def _state_size(suite: Suite, cases: list[CaseRun]) -> tuple[list[str], str]:
    """``max_state_bytes``'s problems, and what the envelope's detail says of state size."""
    limit = suite.latency.max_state_bytes
    if limit is None or not cases:
        return [], ""
    biggest = max(cases, key=lambda c: c.state_bytes)
    over = [c for c in cases if c.state_bytes > limit]
    problems = [f"{c.case}: state grew to {c.state_bytes} bytes > max_state_bytes {limit}"
                for c in over]  # fmt: skip
    return problems, f"; largest state {biggest.state_bytes} bytes ({biggest.case})"


def _audit(cases: list[CaseRun], findings: list[Finding]) -> Check:
    kind = {r: c for c in cases for r in c.runs}
    bad = [
        f
        for f in findings
        if f.severity == "error"
        and f.run_id in kind
        and not f.rule.startswith("budget.")  # the envelope's
        and not (kind[f.run_id].kind == "fault" and f.rule == "run.error")  # expected
        and not (kind[f.run_id].outcome in ("timeout", "broken") and f.rule == "run.error")
    ]
    if bad:
        # one item per rule and message: the same error in many cases is said once
        found: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for f in bad:
            found.setdefault((f.rule, f.message), []).append((kind[f.run_id].case, f.run_id[:12]))
        items, brief = [], []
        for (rule, message), where in found.items():
            named = [f"{case} (run {run})" for case, run in where]
            items.append(f"{rule} in {_names(named)}: {message}")
            brief.append(f"{rule} in {_names([c for c, _ in where])}: {shorten(message, 100)}")
        return failed("audit", f"{len(bad)} finding(s)", items, brief)
    return Check("audit", True, f"no error findings in {len(kind)} runs")
