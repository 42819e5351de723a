"""``audit(store, runs, policy)``: run the rules over recorded runs, thread by thread."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lgaudit.audit.approval import approval_findings, resume_reuse
from lgaudit.audit.budget import budget_findings, guard_findings, run_errors
from lgaudit.audit.findings import POLICY_FREE_RULES, RULES, AuditReport, Finding
from lgaudit.audit.memory import cross_scope
from lgaudit.audit.policy import BUDGET_KEYS, Policy
from lgaudit.audit.state import owner_violations, unexplained_changes
from lgaudit.errors import BadInputError
from lgaudit.history.trace import Trace, TraceLoader
from lgaudit.store import RunRecord, Store

_BUDGET_RULES = dict(
    zip(
        BUDGET_KEYS,
        (
            "budget.steps",
            "loop.node_repeats",
            "budget.llm_calls",
            "budget.tool_calls",
            "budget.tokens",
        ),
        strict=True,
    )
)


def audit(
    store: Store,
    runs: Sequence[str],
    policy: Policy | str | Path | Mapping[str, Any] | None = None,
) -> AuditReport:
    """Audit runs (ids or unique prefixes) against a policy (a ``Policy``, a TOML path, or
    the policy file's tables as a dict).

    With no policy only ``state.unexplained_change``, ``run.error`` and
    ``approval.resume_reused`` run. Each run is judged against its thread's history
    (approvals given in earlier runs of the thread count). Unknown runs and bad policies
    raise ``BadInputError`` before any event is read.
    """
    if isinstance(policy, str | Path):
        policy = Policy.load(policy)
    elif isinstance(policy, Mapping):
        policy = Policy.from_dict(dict(policy))
    if not runs:
        raise BadInputError("no runs to audit: give run ids, --thread T or --all")
    records = list({r["run_id"]: r for r in (store.run(ref) for ref in runs)}.values())
    rules = active_rules(policy)
    findings: list[Finding] = []
    loader = TraceLoader(store)
    by_thread: dict[str | None, list[RunRecord]] = defaultdict(list)
    for r in records:
        by_thread[r["thread_id"]].append(r)
    for thread_id, group in by_thread.items():
        ids = {r["run_id"] for r in group}
        if thread_id is None:
            for r in group:
                findings += _audit_trace(loader.run(r["run_id"]), {r["run_id"]}, policy)
            continue
        findings += _audit_trace(loader.thread(thread_id), ids, policy)
    order = {r["run_id"]: i for i, r in enumerate(records)}
    findings.sort(key=lambda f: (order[f.run_id], f.event_seq or 0, RULES.index(f.rule)))
    return AuditReport(tuple(order), rules, tuple(findings), policy)


def audit_trace(
    trace: Trace, run_ids: Sequence[str], policy: Policy | None = None
) -> list[Finding]:
    """``audit``'s findings for runs of a trace already loaded (``TraceLoader.thread`` of
    their thread, as ``audit`` loads it; ``TraceLoader.run`` for a run with no thread), in
    ``audit``'s order: for a page that reads the run's steps from the same trace."""
    findings = _audit_trace(trace, set(run_ids), policy)
    order = {r: i for i, r in enumerate(run_ids)}
    findings.sort(key=lambda f: (order[f.run_id], f.event_seq or 0, RULES.index(f.rule)))
    return findings


def active_rules(policy: Policy | None) -> tuple[str, ...]:
    """The rules a policy turns on (always the policy-free ones)."""
    on = set(POLICY_FREE_RULES)
    if policy is not None:
        if policy.protected:
            on.add("approval.bypass")
        if policy.state_key:
            on.add("approval.forged")
        if policy.owners:
            on.add("state.owner")
        if policy.memory_scope or policy.memory_namespace is not None:
            on.add("memory.cross_scope")
        on.update(_BUDGET_RULES[k] for k in policy.budget)
        if policy.max_cost_usd is not None:
            on.add("budget.cost")
    return tuple(r for r in RULES if r in on)


def _audit_trace(trace: Trace, run_ids: set[str], policy: Policy | None) -> list[Finding]:
    out = unexplained_changes(trace, run_ids) + resume_reuse(trace, run_ids)
    for run_id in run_ids:
        out += run_errors(trace, run_id)
        found: list[Finding] = []
        if policy is not None and (policy.budget or policy.max_cost_usd is not None):
            found = budget_findings(trace, run_id, policy)
        out += found + guard_findings(trace, run_id, {f.rule for f in found})
    if policy is not None:
        out += approval_findings(trace, run_ids, policy)
        if policy.owners:
            out += owner_violations(trace, run_ids, policy)
        if policy.memory_scope or policy.memory_namespace is not None:
            out += cross_scope(trace, run_ids, policy)
    return out
