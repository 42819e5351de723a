"""Approval rules: ``approval.bypass``, ``approval.forged``, ``approval.resume_reused``.

A human decision is a gate task (a node in ``gates``) whose writes show it consumed a
resume value (``__resume__``); it approves when its last consumed value does. Protected
executions (``node_start`` of a protected node, ``tool_start`` of a ``tool:NAME``) are
matched against decisions in logical order over the whole thread: a rejection cancels
pending approvals, and with ``single_use`` each approval covers one execution.

Without a policy, ``approval.resume_reused`` still checks that every consumption of a
resume is backed by a resume given in that run: a task consuming a resume in a run that
gave none (a fork re-using the pending resume of a checkpoint), or more tasks consuming
a resume than values were given, re-uses a human's answer.
"""

from __future__ import annotations

from typing import Any

from lgaudit.audit.findings import Finding, finding_at
from lgaudit.audit.policy import Policy
from lgaudit.history.normalize import summary
from lgaudit.history.trace import NULL_TASK, RESUME, Event, Trace, update_step, write_entries


def consumed_resumes(e: Event) -> list[Any] | None:
    """The resume values a task's writes event shows it consumed (``None``: none)."""
    if e["kind"] != "writes" or (e.get("task_id") or NULL_TASK) == NULL_TASK:
        return None
    for w in write_entries(e):
        if w["channel"] == RESUME:
            value = w.get("value")
            return list(value) if isinstance(value, list) else [value]
    return None


def resume_reuse(trace: Trace, run_ids: set[str]) -> list[Finding]:
    """``approval.resume_reused`` from consumption alone (no policy needed)."""
    out: list[Finding] = []
    interrupt_ids = {
        i
        for e in trace.events
        if e["kind"] == "interrupt"
        for i in e["payload"].get("interrupt_ids") or []
    }
    for run_id in run_ids:
        events = trace.by_run.get(run_id, [])
        given = 0
        for e in events:
            if e["kind"] == "resume":
                value = e["payload"].get("value")
                keyed = isinstance(value, dict) and value and set(value) <= interrupt_ids
                given += len(value) if keyed else 1
        consumers: dict[str, Event] = {}
        for e in events:
            if consumed_resumes(e) is not None:
                consumers.setdefault(e["task_id"], e)
        for n, e in enumerate(consumers.values(), start=1):
            if n <= given:
                continue
            source = (
                "no resume was given in this run"
                if not given
                else (f"this run gave {given} resume value(s)")
            )
            out.append(
                finding_at(
                    "approval.resume_reused",
                    e,
                    f"task of {trace.node(e)} at step {e['step']} "
                    f"consumed resume {summary(consumed_resumes(e), 60)} but {source}: a human "
                    "answer was used more than once",
                    node=trace.node(e),
                )
            )
    return out


def approval_findings(trace: Trace, run_ids: set[str], policy: Policy) -> list[Finding]:
    """``approval.bypass``, ``approval.forged`` and policy-level ``approval.resume_reused``."""
    out = _forged(trace, run_ids, policy) if policy.state_key else []
    if not policy.protected:
        return out
    timeline: list[tuple[tuple[int, ...], int, int, Event, str]] = []
    executed: set[tuple[str, str]] = set()
    # a replay's thread starts with the approvals (and their uses) of the thread it forked
    # from, up to its fork checkpoint: they sort before everything of its own
    history = [((-1, i), e) for i, e in enumerate(trace.prior)]
    unsaved = _unsaved_decisions(trace, policy)
    for clock, e in history + [(trace.clock(e), e) for e in trace.events]:
        target = _protected_target(trace, e, policy)
        if target is not None and (e["run_id"], e.get("task_id") or str(e["seq"])) not in executed:
            if e["kind"] == "node_start":
                executed.add((e["run_id"], e.get("task_id") or str(e["seq"])))
            timeline.append((clock, *_order(trace, e, 0), e, target))
        elif trace.node(e) in policy.gates and consumed_resumes(e) is not None:
            timeline.append((clock, *_order(trace, e, 1), e, ""))
        elif e["gseq"] in unsaved:
            timeline.append((clock, *_order(trace, e, 1), e, ""))
    pending: list[Event] = []
    used: list[tuple[Event, Event]] = []
    for *_, e, target in sorted(timeline, key=lambda t: t[:3]):
        if not target:
            values = unsaved.get(e["gseq"]) or consumed_resumes(e) or [None]
            if policy.approves(values[-1]):
                pending.append(e)
            else:
                pending.clear()
                used.clear()
            continue
        if pending:
            approval = pending.pop(0) if policy.single_use else pending[0]
            used.append((approval, e))
            continue
        if e["run_id"] not in run_ids:
            continue
        where = f"{target} ran at step {e['step']}"
        if used:
            first_gate, first_use = used[-1]
            out.append(
                finding_at(
                    "approval.resume_reused",
                    e,
                    f"{where} on the approval given at "
                    f"{trace.node(first_gate)} (run {first_gate['run_id'][:12]}, step "
                    f"{first_gate['step']}), which already covered {_target_name(first_use)} "
                    f"at step {first_use['step']}",
                    node=trace.node(e),
                )
            )
        else:
            gates = ", ".join(policy.gates) or "no gate configured"
            out.append(
                finding_at(
                    "approval.bypass",
                    e,
                    f"{where} with no preceding approving human resume at a gate ({gates})",
                    node=trace.node(e),
                )
            )
    return out


def _order(trace: Trace, e: Event, order: int) -> tuple[int, int]:
    """How a protected execution (``order`` 0) and a decision (1) of one step sort. Tasks
    of a step run in parallel: a protected node is not covered by a decision of its own
    step. Functional API ``@task`` calls are the exception: the entrypoint waits for one
    task before calling the next, so they sort by when a decision's task ended and a
    protected task started."""
    events = trace.task_events.get(e.get("task_id") or "", [])
    mine = [x for x in events if x["run_id"] == e["run_id"]]
    start = next((x for x in mine if x["kind"] == "node_start"), None)
    if start is None or list(start["payload"].get("path") or ())[-1:] != ["True"]:
        return order, e["gseq"]
    if order == 0:
        return 0, e["gseq"]
    end = next((x for x in mine if x["kind"] in ("node_end", "node_error")), e)
    return 0, end["gseq"]


def _unsaved_decisions(trace: Trace, policy: Policy) -> dict[int, list[Any]]:
    """Gate decisions LangGraph did not save (``durability="exit"`` keeps no writes): a gate
    task that completed in a run that gave a resume, with no recorded consumption of it,
    decided on that resume. By the ``node_end``'s position: the values it took."""
    consumed = {e.get("task_id") for e in trace.events if consumed_resumes(e) is not None}
    given: dict[str, list[Any]] = {}
    for e in trace.events:
        if e["kind"] == "resume":
            given.setdefault(e["run_id"], []).append(e["payload"].get("value"))
    return {
        e["gseq"]: given[e["run_id"]][-1:]
        for e in trace.events
        if e["kind"] == "node_end"
        and e.get("node") in policy.gates
        and e["payload"].get("status") is None  # completed, not interrupted again
        and e.get("task_id") not in consumed
        and e["run_id"] in given
    }


def _approved_inside(trace: Trace, e: Event, policy: Policy) -> bool:
    """Whether the task writing ``e`` is a subgraph in which a gate consumed an approving
    resume (the parent's write of the approval key is the subgraph's state handed up)."""
    node, task_id = trace.node(e), e.get("task_id")
    if not node or not task_id:
        return False
    inside = f"{e['checkpoint_ns'] + '|' if e['checkpoint_ns'] else ''}{node}:{task_id}"
    for w in trace.events:
        ns = w.get("checkpoint_ns") or ""
        if w["kind"] != "writes" or not (ns == inside or ns.startswith(inside + "|")):
            continue
        if _gate_approved(trace, w, policy):
            return True
    return False


def _gate_approved(trace: Trace, e: Event, policy: Policy) -> bool:
    """Whether ``e`` is a gate task's writes consuming an approving resume."""
    consumed = consumed_resumes(e)
    if not consumed or trace.node(e) not in policy.gates:
        return False
    return policy.approves(consumed[-1])


def _protected_target(trace: Trace, e: Event, policy: Policy) -> str | None:
    if e["kind"] == "node_start" and e.get("node") in policy.protected:
        return f"node {e['node']}"
    if e["kind"] == "tool_start" and f"tool:{e['payload'].get('tool')}" in policy.protected:
        return f"tool {e['payload'].get('tool')}"
    return None


def _target_name(e: Event) -> str:
    if e["kind"] == "tool_start":
        return f"tool {e['payload'].get('tool')}"
    return f"node {e.get('node')}"


def _forged(trace: Trace, run_ids: set[str], policy: Policy) -> list[Finding]:
    key = policy.state_key
    out: list[Finding] = []
    for e in trace.events:
        if e["run_id"] not in run_ids:
            continue
        if e["kind"] == "state_update":
            if (e["payload"].get("values") or {}).get(key) is True:
                step = update_step(trace, e)
                gates = ", ".join(policy.gates) or "none configured"
                out.append(
                    finding_at(
                        "approval.forged",
                        e,
                        f"update_state (as {e['payload'].get('as_node')}) set {key!r} to true "
                        f"at step {step}; only an approving resume consumed by a gate "
                        f"({gates}) may set it",
                        node=e["payload"].get("as_node"),
                        channel=key,
                        step=step,
                    )
                )
            continue
        if e["kind"] != "writes" or e["run_id"] in trace.update_runs:
            continue
        if not any(w["channel"] == key and w.get("value") is True for w in write_entries(e)):
            continue
        node = trace.node(e)
        if _gate_approved(trace, e, policy) or _approved_inside(trace, e, policy):
            continue  # the gate's own write, or a subgraph handing up what its gate set
        consumed = consumed_resumes(e)
        why = (
            f"{node} is not an approval gate ({', '.join(policy.gates) or 'none configured'})"
            if node not in policy.gates
            else f"the gate task consumed no approving resume (got {summary(consumed, 40)})"
        )
        out.append(
            finding_at(
                "approval.forged",
                e,
                f"{'node ' + node if node else 'a write outside any node'} "
                f"set {key!r} to true at step {e['step']}, but {why}",
                node=node,
                channel=key,
            )
        )
    return out
