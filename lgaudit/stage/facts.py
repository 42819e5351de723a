"""What one recorded run shows: its nodes, tools, models and gates, its tokens and cost,
and what its record is missing."""

from __future__ import annotations

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


def run_facts(events: list[EventRecord], prices: dict[str, Price]) -> RunFacts:
    facts = RunFacts()
    opened: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    no_usage = 0
    for e in events:
        kind, payload = e["kind"], e["payload"]
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


def add(items: list[str], name: str) -> None:
    if name not in items:
        items.append(name)
