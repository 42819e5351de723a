"""Per-run envelope rules: ``loop.node_repeats``, ``budget.*`` and ``run.error``.

Cost (``budget.cost``) is priced per model call from its recorded usage: a model the
prices do not name has an unknown cost, which is a finding of its own, never free.
"""

from __future__ import annotations

from collections import Counter

from lgaudit.audit.findings import RULES, Finding, finding_at
from lgaudit.audit.policy import Policy, Price
from lgaudit.history.trace import Event, Trace


def run_errors(trace: Trace, run_id: str) -> list[Finding]:
    """``run.error``: the run failed (a ``run_error`` event)."""
    events = trace.by_run.get(run_id, [])
    failed_nodes = [e for e in events if e["kind"] == "node_error"]
    out: list[Finding] = []
    for e in events:
        if e["kind"] == "run_error":
            err = e["payload"].get("error") or {}
            node = failed_nodes[-1] if failed_nodes else None
            at = f" in node {node['node']} at step {node['step']}" if node else ""
            out.append(
                finding_at(
                    "run.error",
                    e,
                    f"run failed{at}: {err.get('type')}: {err.get('message')}",
                    node=node["node"] if node else None,
                    step=node["step"] if node else None,
                )
            )
    return out


def guard_findings(trace: Trace, run_id: str, already: set[str]) -> list[Finding]:
    """The rule a live guard enforced on the run (its ``guard`` event), unless the audit's
    own rules found it (``already``): a guard stops the call past a limit before it is
    recorded, so the recorded calls alone may stay within the limit."""
    out: list[Finding] = []
    for e in trace.by_run.get(run_id, []):
        if e["kind"] != "guard" or "order" in e["payload"]:
            continue  # an ``lgaudit kill`` order's own event is not a stopped run
        rule = str(e["payload"].get("rule"))
        if rule in RULES and rule not in already:
            already.add(rule)
            out.append(finding_at(rule, e, f"stopped by the guard: {e['payload'].get('message')}"))
    return out


def budget_findings(trace: Trace, run_id: str, policy: Policy) -> list[Finding]:
    """Budget and loop findings of one run; each names the event that crossed the limit."""
    limits = policy.budget
    out: list[Finding] = []
    steps: set[int] = set()
    repeats: Counter[str] = Counter()
    tasks: set[str] = set()
    step_of_task: dict[str, object] = {}
    ran: set[tuple[str, tuple[object, ...]]] = set()
    llm = tools = tokens = 0
    cost = 0.0
    crossed: set[str] = set()

    def over(rule: str, e: Event, message: str, key: str | None = None) -> None:
        mark = key or rule
        if mark not in crossed:
            crossed.add(mark)
            out.append(finding_at(rule, e, message, node=e.get("node")))

    for e in trace.by_run.get(run_id, []):
        kind = e["kind"]
        if kind == "node_start" and e.get("node") and not str(e["node"]).startswith("__"):
            if not e["checkpoint_ns"] and isinstance(e.get("step"), int):
                steps.add(e["step"])
                if "max_steps" in limits and len(steps) > limits["max_steps"]:
                    over(
                        "budget.steps",
                        e,
                        f"run took more than {limits['max_steps']} steps "
                        f"(step {e['step']} is its {len(steps)}th)",
                    )
            task = e.get("task_id") or str(e["seq"])
            if task in tasks:
                continue
            tasks.add(task)
            node = str(e["node"])
            step_of_task[task] = e.get("step")
            at = (node, _where(e, step_of_task))
            if at in ran:
                continue  # another task of the same step (Send fan-out), not a repeat
            ran.add(at)
            repeats[node] += 1
            limit = limits.get("max_node_repeats")
            if limit is not None and repeats[node] > limit:
                over(
                    "loop.node_repeats",
                    e,
                    f"node {node} ran {repeats[node]} times, more than max_node_repeats = {limit}",
                    key=f"loop:{node}",
                )
        elif kind == "llm_start":
            llm += 1
            if "max_llm_calls" in limits and llm > limits["max_llm_calls"]:
                over(
                    "budget.llm_calls",
                    e,
                    f"model call {llm} exceeds max_llm_calls = {limits['max_llm_calls']}",
                )
        elif kind == "tool_start":
            tools += 1
            if "max_tool_calls" in limits and tools > limits["max_tool_calls"]:
                over(
                    "budget.tool_calls",
                    e,
                    f"tool call {tools} ({e['payload'].get('tool')}) "
                    f"exceeds max_tool_calls = {limits['max_tool_calls']}",
                )
        elif kind == "llm_end":
            tokens += int((e["payload"].get("usage") or {}).get("total_tokens") or 0)
            if "max_tokens" in limits and tokens > limits["max_tokens"]:
                over(
                    "budget.tokens",
                    e,
                    f"run used {tokens} tokens by this model call, "
                    f"more than max_tokens = {limits['max_tokens']}",
                )
            if policy.max_cost_usd is not None:
                model = str(e["payload"].get("model"))
                call = call_cost(e["payload"], policy.prices)
                if call is None:
                    over(
                        "budget.cost",
                        e,
                        f"model {model} has no price: the run's cost is unknown",
                        key=f"price:{model}",
                    )
                    continue
                cost += call
                if cost > policy.max_cost_usd:
                    over(
                        "budget.cost",
                        e,
                        f"run cost ${cost:.4f} by this model call, "
                        f"more than max_cost_usd = {policy.max_cost_usd}",
                    )
    return out


def call_cost(payload: dict[str, object], prices: dict[str, Price]) -> float | None:
    """USD of one ``llm_end`` from its usage and its model's price (``None``: no price)."""
    price = prices.get(str(payload.get("model")))
    if price is None:
        return None
    usage = payload.get("usage") or {}
    assert isinstance(usage, dict)
    return price.cost(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))


def _where(e: Event, step_of_task: dict[str, object]) -> tuple[object, ...]:
    """The super-step a task ran in: its own step, inside the steps of the subgraph tasks
    that enclose it (parallel instances of a subgraph share it; loops do not)."""
    outer = []
    for segment in (e.get("checkpoint_ns") or "").split("|"):
        if segment:
            name, _, task_id = segment.rpartition(":")
            outer.append((name, step_of_task.get(task_id)))
    return (*outer, e.get("step"))
