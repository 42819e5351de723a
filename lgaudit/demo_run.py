"""``lgaudit demo`` itself: the demo graphs recorded, replayed, diffed, audited, staged and
verified, part by part (the graphs are in ``demo``, the staging half in ``demo_stage``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from langgraph.types import Command

from lgaudit.demo import AGENT_INPUT, DEMO_POLICY, STAGING_CONFIG, STAGING_INPUT
from lgaudit.store import Store


def run_demo(url: str | None = None, *, policy_path: str | None = None) -> dict[str, Any]:
    """Run the whole demo (``demo_parts``) and return its final document."""
    *_, (_last, doc) = demo_parts(url, policy_path=policy_path)
    return doc


def demo_parts(
    url: str | None = None, *, policy_path: str | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Record the staging graph and the approval agent (interrupt, then an approving
    resume), replay the agent strictly and with an injected fault, diff the strict replay
    against the original, audit the runs, stage three candidate versions on production-like
    traffic, and verify the chain — yielding ``(part, document so far)`` as each part is
    done: ``recorded``, ``replayed``, ``diff``, ``audit``, ``traffic``, ``unchanged``,
    ``fast_lane`` and ``renamed_gate`` (the candidates staged), ``verified``.

    Every figure is this invocation's own, whatever the store already holds: its traffic is
    recorded under an environment of its own (``production-<suffix>``) and staged alone,
    and ``recorded`` counts the runs and events this demo made.
    """
    from pathlib import Path

    from lgaudit import Recorder, replay
    from lgaudit.audit import Policy, audit, diff
    from lgaudit.demo_stage import stage_demo
    from lgaudit.replay.spec import load_graph  # runs record the import path a replay needs

    suffix = uuid.uuid4().hex[:6]
    doc: dict[str, Any] = {}
    with Recorder(url, environment="staging") as recorder:
        staging_graph = recorder.attach(load_graph("lgaudit.demo:staging"))
        # the seed's call as written: its config names no thread (the recorder makes one)
        staging_graph.invoke(dict(STAGING_INPUT), config=dict(STAGING_CONFIG))
        recorder.flush()
        staging_run = recorder.store.runs(limit=1)[0]["run_id"]

        agent_graph = recorder.attach(load_graph("lgaudit.demo:agent"))
        agent_cfg = {"configurable": {"thread_id": f"order-{suffix}"}}
        agent_graph.invoke(dict(AGENT_INPUT), agent_cfg)
        agent_graph.invoke(Command(resume="approve"), agent_cfg)
        recorder.flush()
        url = recorder.url
        agent_runs = [
            r["run_id"]
            for r in reversed(recorder.store.runs(thread_id=f"order-{suffix}", limit=None))
        ]
    doc.update(
        url=url, staging_run=staging_run, agent_runs=agent_runs, agent_thread=f"order-{suffix}"
    )
    yield "recorded", doc

    strict = replay(agent_runs[-1], graph="lgaudit.demo:agent", url=url)
    faulty = replay(
        agent_runs[-1],
        graph="lgaudit.demo:agent",
        url=url,
        faults=["tools:TimeoutError:mail server timed out@1"],
    )
    doc.update(strict_replay=strict.to_json(), fault_replay=faulty.to_json())
    yield "replayed", doc

    doc["diff_identical"] = diff(agent_runs[-1], strict.run_id, url=url).identical
    yield "diff", doc

    policy_file = Path(policy_path or "lgaudit-demo-policy.toml")
    policy_file.write_text(DEMO_POLICY, encoding="utf-8")
    report = audit([staging_run, *agent_runs], Policy.load(policy_file), url=url)
    doc.update(policy=str(policy_file), findings=[f.to_json() for f in report.findings])
    yield "audit", doc

    own = [staging_run, *agent_runs, strict.run_id, faulty.run_id]
    for part, staged in stage_demo(url, suffix):
        doc["stage"] = staged
        own += staged["traffic_runs"] if part == "traffic" else staged[part].pop("runs")
        yield part, doc

    with Store.open(url) as store:
        doc["verify"] = store.verify()
        runs = [store.run(r) for r in dict.fromkeys(own)]
    doc["recorded"] = {"runs": len(runs), "events": sum(r["event_count"] for r in runs)}
    yield "verified", doc
