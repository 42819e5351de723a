"""Latency and state growth: each case's wall time, p50/p95 per case and per node (from the
recorded ``node_start``/``node_end`` times), the ``latency`` check against ``[envelope]
max_case_seconds`` and ``max_node_p95_seconds``, and the largest encoded checkpoint state of
a case (``max_state_bytes``, held by the ``envelope`` check)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from lgaudit.stage.cases import CaseRun
from lgaudit.stage.checks import Check, failed
from lgaudit.stage.facts import RunFacts
from lgaudit.stage.suite import Suite
from lgaudit.store import Store
from lgaudit.store.views import EventExpander, is_internal_channel


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (``None`` for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def node_times(cases: list[CaseRun], facts: dict[str, RunFacts]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for c in cases:
        for run_id in c.runs:
            for node, times in (facts.get(run_id) or RunFacts()).node_seconds.items():
                out.setdefault(node, []).extend(times)
    return out


def latency_doc(cases: list[CaseRun], facts: dict[str, RunFacts]) -> dict[str, Any]:
    """``{"cases": {"p50", "p95"}, "nodes": {NODE: {"p50", "p95", "n"}}}`` (seconds)."""
    seconds = [c.seconds for c in cases]
    nodes = node_times(cases, facts)
    return {
        "cases": {"p50": _r(percentile(seconds, 50)), "p95": _r(percentile(seconds, 95))},
        "nodes": {
            node: {
                "p50": _r(percentile(times, 50)),
                "p95": _r(percentile(times, 95)),
                "n": len(times),
            }
            for node, times in sorted(nodes.items())
        },
    }


def latency_check(suite: Suite, cases: list[CaseRun], facts: dict[str, RunFacts]) -> Check:
    limits = suite.latency
    if limits.max_case_seconds is None and not limits.max_node_p95_seconds:
        return Check(
            "latency",
            False,
            "no limits to hold: set [envelope] max_case_seconds or max_node_p95_seconds",
        )
    if not cases:
        return Check("latency", False, "no case ran: nothing to time")
    problems: list[str] = []
    if limits.max_case_seconds is not None:
        slow = sorted((c for c in cases if c.seconds > limits.max_case_seconds),
                      key=lambda c: -c.seconds)  # fmt: skip
        problems += [
            f"{c.case} took {c.seconds:.3f} s > max_case_seconds {limits.max_case_seconds:g}"
            for c in slow
        ]
    nodes = node_times(cases, facts)
    for node, limit in limits.max_node_p95_seconds.items():
        p95 = percentile(nodes.get(node, []), 95)
        if p95 is None:
            problems.append(f"node {node} never ran: its max_node_p95_seconds holds nothing")
        elif p95 > limit:
            problems.append(
                f"node {node} p95 {p95:.3f} s > max_node_p95_seconds {limit:g} "
                f"(over {len(nodes[node])} calls)"
            )
    doc = latency_doc(cases, facts)["cases"]
    head = f"case p50 {doc['p50']:.3f} s, p95 {doc['p95']:.3f} s over {len(cases)} cases"
    if problems:
        check = failed("latency", f"{len(problems)} problem(s)", problems)
        return replace(check, detail=f"{check.detail} ({head})", brief=f"{check.brief} ({head})")
    held = ", ".join(
        f"{n} p95 {percentile(nodes[n], 95):.3f} s" for n in limits.max_node_p95_seconds
    )
    return Check("latency", True, head + (f"; {held}" if held else ""))


def state_bytes(store: Store, runs: list[str]) -> int:
    """The largest checkpoint state of ``runs``, as JSON bytes of its channels' values."""
    expander = EventExpander(store)
    largest = 0
    for run_id in runs:
        for e in store.events(run_id, kinds=["checkpoint"]):
            if e["checkpoint_ns"]:
                continue  # a subgraph's: part of its parent's state
            refs = expander.state_refs(e)
            values = {
                ch: expander.value(ref) for ch, ref in refs.items() if not is_internal_channel(ch)
            }
            largest = max(largest, len(json.dumps(values, default=str).encode()))
    return largest
