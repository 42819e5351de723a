"""The staging half of ``lgaudit demo``: production-like traffic of the approval agent (and
one request left waiting for a human), a suite written beside the database, and three
candidate versions staged with it — the unchanged agent (promoted), one that sends internal
mail without asking the human (blocked), and one that renamed the approval node (blocked:
the waiting thread cannot go on)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph.types import Command
from sqlalchemy.engine import make_url

from lgaudit.demo import AGENT_INPUT, DEMO_POLICY

#: The suite ``lgaudit demo`` writes: version testing on the production traffic, two
#: scenarios with a simulated human (one approving, one rejecting), the fault matrix, the
#: cost envelope and the audit policy of the demo (``DEMO_POLICY``), a case timeout, the
#: tool sandbox, a load run, the threads left waiting for a human; every check required.
DEMO_SUITE = (
    """\
[suite]
name = "approval-agent"
graph = "lgaudit.demo:agent"
environment = "staging"
case_timeout_s = 30

[traffic]
environment = "production"
graph = "approval_agent"
cassette = "strict"

[[scenario]]
name = "email approved"
input = { messages = [{ type = "human", content = "Email the Q3 report to the CFO." }] }
humans = ["approve"]
expect = { status = "succeeded", state = { approved = true } }

[[scenario]]
name = "email rejected"
input = { messages = [{ type = "human", content = "Email the Q3 report to the CFO." }] }
humans = ["reject"]
expect = { status = "succeeded", state = { approved = false } }

[faults]
matrix = true
exception = "TimeoutError"

[envelope]
max_cost_usd = 0.05
max_total_cost_usd = 1.0
prices = { "scripted-model" = { input = 2.50, output = 10.00 } }
max_case_seconds = 30
max_node_p95_seconds = { agent = 2.0, tools = 2.0 }
max_state_bytes = 200000

[tools]
stand_ins = { send_email = "lgaudit.demo:outbox" }
sandbox = true

[load]
scenarios = ["email approved"]
concurrency = 4
repeat = 8
max_p95_slowdown = 25.0
max_rss_growth_mb = 200

[pending]
environment = "production"
answer = "approve"

"""
    + DEMO_POLICY
    + """
[gate]
require = ["traffic", "scenarios", "faults", "oversight", "observability", "envelope", "audit",
           "latency", "load", "pending", "sandbox"]
max_regressions = 0
"""
)

#: The human's answers in production: three approvals, one rejection.
PRODUCTION_ANSWERS = ("approve", "approve", "reject", "approve")


def record_production(url: str, environment: str = "production") -> list[str]:
    """Record the approval agent as production would: each request interrupted at the
    human gate, then resumed with the human's answer — and one more request still waiting
    for its human (its thread last). The threads' ids."""
    from lgaudit import Recorder
    from lgaudit.replay.spec import load_graph  # runs record the import path a replay needs

    threads = []
    with Recorder(url, environment=environment) as recorder:
        for answer in PRODUCTION_ANSWERS:
            # each request's model starts its script anew
            graph = recorder.attach(load_graph("lgaudit.demo:agent"))
            thread = f"prod-{uuid.uuid4().hex[:6]}"
            cfg = {"configurable": {"thread_id": thread}}
            graph.invoke(dict(AGENT_INPUT), cfg)
            graph.invoke(Command(resume=answer), cfg)
            threads.append(thread)
        waiting = f"prod-{uuid.uuid4().hex[:6]}"
        graph = recorder.attach(load_graph("lgaudit.demo:agent"))
        graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": waiting}})
        threads.append(waiting)
    return threads


def suite_path(url: str) -> Path:
    """Beside the SQLite database (the working directory for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).resolve().parent / "lgaudit-demo-suite.toml"
    return Path("lgaudit-demo-suite.toml").resolve()


def stage_demo(url: str, suffix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Record production traffic under an environment of this demo's own
    (``production-<suffix>``, so that a store holding earlier demos' traffic stages only
    this one's), write the suite selecting it, then stage the unchanged agent and the
    changed ones. Yields ``("traffic", doc)`` once the traffic is recorded, then
    ``("unchanged", doc)``, ``("fast_lane", doc)`` and ``("renamed_gate", doc)`` as each
    verdict is in; ``doc[label]["runs"]`` lists every run that candidate's stage recorded,
    ``doc[label]["new_checks"]`` the checks of staging's other dimensions."""
    from lgaudit import Store
    from lgaudit.stage import stage
    from lgaudit.stage.suite import MORE_CHECKS

    environment = f"production-{suffix}"
    threads = record_production(url, environment)
    with Store.open(url) as store:
        traffic = [r["run_id"] for t in threads for r in store.runs(thread_id=t, limit=None)]
    path = suite_path(url)
    path.write_text(
        DEMO_SUITE.replace('environment = "production"', f'environment = "{environment}"'),
        encoding="utf-8",
    )
    doc: dict[str, Any] = {"suite": str(path), "environment": environment, "traffic_runs": traffic}
    yield "traffic", doc
    candidates = (
        ("unchanged", None),
        ("fast_lane", "lgaudit.demo:agent_fast_lane"),
        ("renamed_gate", "lgaudit.demo:agent_renamed_gate"),
    )
    for label, graph in candidates:
        result = stage(path, url=url, graph=graph)
        changed = [c for c in result.cases if c.outcome in ("changed", "failed", "broken")]
        doc[label] = {
            "graph": result.graph,
            "verdict": result.verdict,
            "failed_checks": [c.to_json() for c in result.checks if not c.ok],
            "cases": len(result.cases),
            "first_changed": changed[0].to_json() if changed else None,
            "runs": [r for c in result.cases for r in (c.run_id, *c.runs) if r]
            + list(result.load_runs),
            "new_checks": [c.to_json() for c in result.checks if c.name in MORE_CHECKS],
            "load": result.dimensions.get("load"),
        }
        yield label, doc
