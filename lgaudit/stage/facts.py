"""What one recorded run shows: its nodes, tools, models and gates, its tokens and cost,
and what its record is missing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from lgaudit.audit.budget import call_cost
from lgaudit.audit.policy import Price
from lgaudit.store import EventRecord


@dataclass
class RunFacts:
    """What one recorded run shows, for coverage, observability, oversight and cost."""

    nodes: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    tokens: int = 0
    cost_usd: float = 0.0
    unpriced: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    """What the run's record is missing (observability)."""
    node_seconds: dict[str, list[float]] = field(default_factory=dict)
    """Each node's recorded durations (``node_start`` to its end or error), by node."""


def run_facts(events: list[EventRecord], prices: dict[str, Price]) -> RunFacts:
    facts = RunFacts()
    opened: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    no_usage = 0
    began: dict[str, dt.datetime] = {}  # task -> its node_start's time
    for e in events:
        kind, payload = e["kind"], e["payload"]
        if kind in ("node_start", "node_end", "node_error") and e["task_id"] and e["node"]:
            _timed(facts, began, e)
        what, _, phase = kind.partition("_")
        if what in ("node", "llm", "tool"):
            (opened if phase == "start" else closed)[what] += 1
        if kind == "node_start" and e["node"] and not str(e["node"]).startswith("__"):
            add(facts.nodes, str(e["node"]))
        elif kind == "tool_start":
            add(facts.tools, str(payload.get("tool")))
        elif kind == "llm_start":
            add(facts.models, str(payload.get("model")))
        elif kind == "interrupt" and e["node"]:
            add(facts.gates, str(e["node"]))
        elif kind == "llm_end":
            usage = payload.get("usage") or {}
            facts.tokens += int(usage.get("total_tokens") or 0)
            if not usage.get("total_tokens"):
                no_usage += 1
            cost = call_cost(payload, prices)
            if cost is None:
                add(facts.unpriced, str(payload.get("model")))
            else:
                facts.cost_usd += cost
    if not opened["node"]:
        facts.gaps.append("no node events")
    for what, label in (("node", "node"), ("llm", "model call"), ("tool", "tool call")):
        if opened[what] > closed[what]:
            facts.gaps.append(f"{opened[what] - closed[what]} {label}(s) with no end or error")
    if no_usage:
        facts.gaps.append(f"{no_usage} model call(s) with no token usage")
    return facts


def _timed(facts: RunFacts, began: dict[str, dt.datetime], e: EventRecord) -> None:
    task, at = str(e["task_id"]), dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
    if e["kind"] == "node_start":
        began[task] = at
    elif task in began:
        seconds = (at - began.pop(task)).total_seconds()
        facts.node_seconds.setdefault(str(e["node"]), []).append(seconds)


def add(items: list[str], name: str) -> None:
    if name not in items:
        items.append(name)
