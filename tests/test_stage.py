"""``lgaudit stage``: recorded traffic replayed on candidate versions, scenarios with
simulated humans, the fault matrix, the cost envelope and the verdict — on SQLite and
PostgreSQL, with real LangGraph graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stage_graphs
from click.testing import CliRunner
from helpers import snapshot
from langgraph.types import Command
from replay_graphs import AGENT_INPUT, agent

from lgaudit import Recorder, Store, stage
from lgaudit.audit import Policy, audit
from lgaudit.cli import cli
from lgaudit.stage import CHECKS

SPEC_CASE_FIELDS = {
    "case",
    "kind",
    "run_id",
    "source_run_id",
    "status",
    "outcome",
    "first_divergence",
    "findings",
    "tokens",
    "cost_usd",
    "seconds",
}


def record(url: str, graph: Any, calls: list[Any], thread: str, env: str = "production") -> None:
    """Record ``calls`` (an input, then resumes) of ``graph`` on one thread."""
    with Recorder(url, environment=env) as rec:
        g = rec.attach(graph)
        for value in calls:
            g.invoke(value, {"configurable": {"thread_id": thread}})


def record_payments(url: str, amounts: tuple[int, ...] = (50, 500)) -> None:
    for amount in amounts:
        record(url, stage_graphs.payments(), [{"amount": amount}, Command(resume="approve")],
               f"pay-{amount}")  # fmt: skip


def suite(tmp_path: Path, text: str, name: str = "suite.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def cli_stage(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["stage", *args, "--db", db_url])


AGENT_SUITE = """
[suite]
name = "weather"
graph = "replay_graphs:agent"

[traffic]
environment = "production"
cassette = "strict"

[faults]
matrix = true

[envelope]
max_cost_usd = {max_cost}
prices = {prices}

[gate]
require = ["traffic", "faults", "observability", "envelope", "audit"]
"""

GPT4O_PRICE = '{ "gpt-4o" = { input = 2.5, output = 10.0 } }'


def test_unchanged_agent_promotes_and_the_matrix_faults_every_node_tool_and_model(
    db_url: str, tmp_path: Path
) -> None:
    for i in range(2):
        record(db_url, agent(), [dict(AGENT_INPUT)], f"weather-{i}")
    path = suite(tmp_path, AGENT_SUITE.format(max_cost=0.5, prices=GPT4O_PRICE))

    result = cli_stage(db_url, path, "--json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc)[0] == "stage_id"
    assert set(doc) == {
        "stage_id", "suite", "graph", "verdict", "checks", "cases", "coverage", "require",
        "latency",
    }  # fmt: skip
    assert doc["verdict"] == "promote"
    assert [c["name"] for c in doc["checks"]] == list(CHECKS)
    traffic = [c for c in doc["cases"] if c["kind"] == "traffic"]
    assert [c["outcome"] for c in traffic] == ["same", "same"]
    assert all(set(c) == SPEC_CASE_FIELDS for c in doc["cases"])
    # 3 model calls of (10+4), (20+4), (30+6) tokens at $2.5 / $10 per million
    assert traffic[0]["tokens"] == 74
    assert traffic[0]["cost_usd"] == pytest.approx((60 * 2.5 + 14 * 10.0) / 1e6)
    cover = doc["coverage"]
    assert {n["name"] for n in cover["nodes"]} == {"agent", "tools"}
    assert [t["name"] for t in cover["tools"]] == ["lookup"]
    assert [m["name"] for m in cover["models"]] == ["gpt-4o"]
    assert all(item["faulted"] for kind in ("nodes", "tools", "models") for item in cover[kind])
    faults = {c["case"]: c["outcome"] for c in doc["cases"] if c["kind"] == "fault"}
    assert set(faults) == {"fault node:agent", "fault node:tools", "fault tool:lookup",
                           "fault llm:gpt-4o"}  # fmt: skip
    # ToolNode's default error handling only catches invalid tool arguments: every fault
    # fails the run, recorded with its error
    assert set(faults.values()) == {"failed_cleanly"}
    with Store.open(db_url) as store:
        failed = next(c for c in doc["cases"] if c["case"] == "fault llm:gpt-4o")
        kinds = [e["kind"] for e in store.events(failed["run_id"])]
        assert kinds[-1] == "run_error"
        staged = store.run(traffic[0]["run_id"])
        assert staged["environment"] == "staging"
        assert staged["replay"]["stage"] == {"suite": "weather", "case": traffic[0]["case"],
                                             "kind": "traffic"}  # fmt: skip


def test_changed_candidate_is_blocked_with_its_regressions_named(
    db_url: str, tmp_path: Path
) -> None:
    record_payments(db_url)
    path = suite(
        tmp_path,
        """
[suite]
name = "payments"
graph = "stage_graphs:payments"
[traffic]
environment = "production"
[gate]
require = ["traffic"]
""",
    )
    same = stage(path, url=db_url)
    assert same.verdict == "promote"
    assert {c.outcome for c in same.cases} == {"same"} and len(same.cases) == 4

    changed = stage(path, url=db_url, graph="stage_graphs:payments_fast_lane")

    assert changed.verdict == "block" and not changed.check("traffic").ok
    regressions = [c for c in changed.cases if c.outcome == "changed"]
    assert regressions, [c.outcome for c in changed.cases]
    with Store.open(db_url) as store:
        sources = {c.source_run_id: store.run(c.source_run_id) for c in changed.cases}
    # the small payment's first run now pays instead of waiting for the human
    small = [c for c in regressions if sources[c.source_run_id]["thread_id"] == "pay-50"]
    assert small and small[0].first_divergence is not None
    assert small[0].first_divergence["kind"] == "route"
    assert all(sources[c.source_run_id]["thread_id"] == "pay-50" for c in regressions)
    detail = changed.check("traffic").detail
    assert f"{len(regressions)} regression(s)" in detail
    assert small[0].case in detail and "lgaudit diff" in detail

    cli = cli_stage(db_url, path, "--graph", "stage_graphs:payments_fast_lane")
    assert cli.exit_code == 1
    lines = cli.stdout.splitlines()
    assert lines[0].startswith("BLOCK payments")
    assert lines[1].startswith("  FAIL traffic")
    # the checks together, the policy applied, then the cases
    assert all(line.startswith(("  FAIL ", "  ok ", "  skip ")) for line in lines[1:8])
    assert lines[8].startswith(f"audit policy {path} sets no rule")
    assert lines[9].startswith("cases: 4 (")
    assert any(small[0].case in line and "changed" in line for line in lines[10:])


LOTTERY_SUITE = """
[suite]
name = "lottery"
graph = "{graph}"
[traffic]
graph = "lottery"
repeat_baseline = {repeat}
[gate]
require = ["traffic"]
"""


def test_a_nondeterministic_node_is_noise_not_a_regression(db_url: str, tmp_path: Path) -> None:
    for name in ("ada", "bob"):
        record(db_url, stage_graphs.lottery(), [{"name": name}], f"lottery-{name}")

    def run(graph: str, repeat: int) -> Any:
        text = LOTTERY_SUITE.format(graph=graph, repeat=repeat)
        return stage(suite(tmp_path, text, f"{graph[-5:]}{repeat}.toml"), url=db_url)

    noisy = run("stage_graphs:lottery", 2)
    assert noisy.verdict == "promote"
    assert [c.outcome for c in noisy.cases] == ["noise", "noise"]
    assert all(c.noise == ("state.ticket",) for c in noisy.cases)
    assert "0 regression(s)" in noisy.check("traffic").detail

    # without baseline replays the random ticket is indistinguishable from a regression
    blind = run("stage_graphs:lottery", 0)
    assert [c.outcome for c in blind.cases] == ["changed", "changed"]

    # a real change beside the noise is still a regression, named by its own path
    rude = run("stage_graphs:lottery_rude", 2)
    assert rude.verdict == "block"
    assert [c.outcome for c in rude.cases] == ["changed", "changed"]
    assert all(c.first_divergence["path"] == "state.greeting" for c in rude.cases)


PAYMENT_SCENARIOS = """
[suite]
name = "oversight"
graph = "{graph}"
{policy}
[[scenario]]
name = "approved"
input = {{ amount = 111 }}
humans = ["approve"]
expect = {{ status = "succeeded", state = {{ approved = true, paid = true }} }}

[[scenario]]
name = "rejected"
input = {{ amount = 222 }}
humans = ["reject"]
expect = {{ status = "succeeded", state = {{ approved = false }} }}

[[scenario]]
name = "rejected by a callable"
input = {{ amount = 333 }}
humans = "stage_graphs:say_no"
expect = {{ status = "succeeded" }}

[gate]
require = ["scenarios", "oversight", "audit"]
"""


def test_a_rejected_scenario_never_reaches_the_protected_node(db_url: str, tmp_path: Path) -> None:
    stage_graphs.EXECUTED.clear()
    text = PAYMENT_SCENARIOS.format(
        graph="stage_graphs:payments", policy=stage_graphs.PAYMENT_POLICY
    )

    result = stage(suite(tmp_path, text), url=db_url)

    assert result.verdict == "promote", [c.to_json() for c in result.checks]
    assert [c.outcome for c in result.cases] == ["passed", "passed", "passed"]
    assert stage_graphs.EXECUTED == [111]
    assert "answered approving and rejecting" in result.check("oversight").detail
    with Store.open(db_url) as store:
        approved = result.cases[0]
        runs = [store.run(r) for r in approved.runs]
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"]
    assert runs[0]["thread_id"] == runs[1]["thread_id"]
    assert all(r["environment"] == "staging" for r in runs)


def test_a_candidate_executing_a_rejected_payment_is_blocked_by_oversight(
    db_url: str, tmp_path: Path
) -> None:
    stage_graphs.EXECUTED.clear()
    text = PAYMENT_SCENARIOS.format(
        graph="stage_graphs:payments_ignoring_rejection", policy=stage_graphs.PAYMENT_POLICY
    )

    result = stage(suite(tmp_path, text), url=db_url)

    assert result.verdict == "block"
    oversight = result.check("oversight")
    assert not oversight.ok
    assert "scenario 'rejected' rejected at human_review, yet execute_payment ran" in (
        oversight.detail
    )
    assert any(f.rule == "approval.bypass" for c in result.cases for f in c.findings)


def test_a_scenario_with_no_answer_left_fails_naming_the_gate(db_url: str, tmp_path: Path) -> None:
    text = """
[suite]
name = "silent"
graph = "stage_graphs:payments"
[[scenario]]
name = "nobody answers"
input = { amount = 5 }
[gate]
require = ["scenarios"]
"""
    result = stage(suite(tmp_path, text), url=db_url)

    assert result.verdict == "block"
    (case,) = result.cases
    assert case.outcome == "failed" and case.status == "interrupted"
    assert "gate human_review interrupted with no simulated answer left" in (case.detail or "")
    assert "nobody answers" in result.check("scenarios").detail


QUOTES_SUITE = """
[suite]
name = "quotes"
graph = "stage_graphs:quotes"
[traffic]
graph = "quotes"
[faults]
matrix = true
exception = "TimeoutError"
[gate]
require = ["traffic", "faults", "observability"]
"""


def test_fault_matrix_recovers_through_retries_and_fallbacks_or_fails_cleanly(
    db_url: str, tmp_path: Path
) -> None:
    record(db_url, stage_graphs.quotes(), [{"messages": []}], "quote-1")

    result = stage(suite(tmp_path, QUOTES_SUITE), url=db_url, workers=2)

    outcomes = {c.case: c.outcome for c in result.cases if c.kind == "fault"}
    assert outcomes == {
        "fault node:rate": "failed_cleanly",  # retried, then failed with its error
        "fault node:explain": "failed_cleanly",
        "fault tool:live_rate": "recovered",  # the cached rate
        "fault llm:primary-model": "recovered",  # the backup model
    }
    assert result.verdict == "promote", [c.to_json() for c in result.checks]
    cover = result.coverage
    assert [t["name"] for t in cover["tools"]] == ["live_rate"]  # not the fallback's
    assert all(i["faulted"] for k in ("nodes", "tools", "models") for i in cover[k])
    with Store.open(db_url) as store:
        rate = next(c for c in result.cases if c.case == "fault node:rate")
        errors = store.events(rate.run_id, kinds=["node_error"])
    assert len(errors) == 2  # both attempts of the retry policy were faulted


def test_an_over_budget_suite_is_blocked_by_the_envelope(db_url: str, tmp_path: Path) -> None:
    record(db_url, agent(), [dict(AGENT_INPUT)], "weather-0")
    pricey = AGENT_SUITE.format(max_cost=0.0001, prices=GPT4O_PRICE)

    result = stage(suite(tmp_path, pricey), url=db_url)

    assert result.verdict == "block"
    envelope = result.check("envelope")
    assert not envelope.ok and "max_cost_usd $0.0001" in envelope.detail
    assert result.check("traffic").ok


def test_budget_cost_is_an_audit_rule_when_prices_are_given(db_url: str, tmp_path: Path) -> None:
    record(db_url, agent(), [dict(AGENT_INPUT)], "weather-0")
    policy = Policy.from_dict(
        {"budget": {"max_cost_usd": 0.0002, "prices": {"gpt-4o": {"input": 2.5, "output": 10}}}}
    )
    with Store.open(db_url) as store:
        run_id = store.runs(limit=1)[0]["run_id"]
    report = audit([run_id], policy, url=db_url)
    (finding,) = [f for f in report.findings if f.rule == "budget.cost"]
    assert "more than max_cost_usd = 0.0002" in finding.message
    assert "budget.cost" in report.rules


BAD_SUITES = [
    ("[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\ncolour = 'red'\n", "suite.colour"),
    ("[suite\nname = 'x'\n", "not valid TOML"),
    ("[suite]\nname = 'x'\ngraph = 'stage_graphs:nope'\n[traffic]\n", "suite.graph"),
    ("[suite]\nname = 'x'\ngraph = 'nowhere.at_all:graph'\n[traffic]\n", "suite.graph"),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n[traffic]\nenvironment = 'mars'\n",
        "[traffic] matches no recorded run (environment = 'mars')",
    ),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n[traffic]\ncassette = 'loose'\n",
        "traffic.cassette",
    ),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n[traffic]\nlimit = 'all'\n",
        "traffic.limit",
    ),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n"
        "[[scenario]]\nname = 's'\ninput = {amount = 1}\nhumans = 'stage_graphs:nobody'\n",
        "humans",
    ),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n"
        "[[scenario]]\nname = 's'\ninput = {amount = 1}\ninject = ['no_such_node']\n",
        "inject",
    ),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n[traffic]\n"
        "[gate]\nrequire = ['vibes']\n",
        "gate.require",
    ),
    (
        "[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n[traffic]\n"
        "[envelope]\nmax_cost_usd = 1\n",
        "envelope.max_cost_usd needs envelope.prices",
    ),
    ("[suite]\nname = 'x'\ngraph = 'stage_graphs:payments'\n", "no cases"),
]


def test_every_bad_suite_exits_2_with_one_line_and_leaves_the_store_unchanged(
    db_url: str, tmp_path: Path
) -> None:
    record_payments(db_url, (50,))
    before = snapshot(db_url)
    for i, (text, expected) in enumerate(BAD_SUITES):
        path = suite(tmp_path, text, f"bad{i}.toml")
        result = cli_stage(db_url, path)
        assert result.exit_code == 2, (text, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0] and expected in lines[0], (text, lines)
    missing = cli_stage(db_url, str(tmp_path / "absent.toml"))
    assert missing.exit_code == 2 and "absent.toml" in missing.stderr
    assert snapshot(db_url) == before


def test_workers_give_the_verdict_of_one_process(db_url: str, tmp_path: Path) -> None:
    record_payments(db_url)
    text = """
[suite]
name = "payments"
graph = "stage_graphs:payments_fast_lane"
[traffic]
[gate]
require = ["traffic"]
"""
    path = suite(tmp_path, text)
    one = stage(path, url=db_url)
    two = stage(path, url=db_url, workers=2)
    assert two.verdict == one.verdict == "block"
    assert [(c.case, c.outcome) for c in two.cases] == [(c.case, c.outcome) for c in one.cases]


def test_junit_has_a_testcase_per_case_and_per_check(db_url: str, tmp_path: Path) -> None:
    record_payments(db_url, (50,))
    text = """
[suite]
name = "payments"
graph = "stage_graphs:payments_fast_lane"
[traffic]
[gate]
require = ["traffic"]
"""
    junit = tmp_path / "stage.xml"
    result = cli_stage(db_url, suite(tmp_path, text), "--junit", str(junit))
    assert result.exit_code == 1
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    cases, checks = root.findall("testsuite")
    assert len(cases.findall("testcase")) == 2 and cases.get("failures") == "1"
    assert [t.get("name") for t in checks.findall("testcase")] == list(CHECKS)
    failed = [t.get("name") for t in checks.findall("testcase") if t.find("failure") is not None]
    assert failed == ["traffic"]


def test_scenario_models_are_swapped_and_inject_faults(db_url: str, tmp_path: Path) -> None:
    text = """
[suite]
name = "agent scenarios"
graph = "replay_graphs:agent"
[[scenario]]
name = "cheap"
input = { messages = [{ type = "human", content = "Weather in Oslo?" }] }
models = { "gpt-4o" = "replay_graphs:cheap_model" }
expect = { status = "succeeded" }
[[scenario]]
name = "agent down"
input = { messages = [{ type = "human", content = "Weather in Oslo?" }] }
inject = ["agent:ConnectionError"]
expect = { status = "succeeded" }
[[scenario]]
name = "agent down, as expected"
input = { messages = [{ type = "human", content = "Weather in Oslo?" }] }
inject = ["agent:ConnectionError"]
expect = { status = "failed" }
[gate]
require = ["scenarios"]
"""
    result = stage(suite(tmp_path, text), url=db_url)
    cheap, down, expected = result.cases
    assert cheap.outcome == "passed" and cheap.tokens == 10  # the cheap model's 5 + 5
    assert down.outcome == "failed" and down.status == "failed"
    assert (down.detail or "").startswith(
        "expected status succeeded, got failed (the run failed: ConnectionError"
    )
    assert expected.outcome == "passed" and expected.status == "failed"
    assert result.coverage["nodes"] == [{"name": "agent", "faulted": True}]


def test_a_model_call_without_token_usage_fails_observability(db_url: str, tmp_path: Path) -> None:
    text = """
[suite]
name = "quiet"
graph = "stage_graphs:unmetered"
[[scenario]]
name = "hello"
input = { messages = [{ type = "human", content = "hi" }] }
expect = { status = "succeeded" }
[gate]
require = ["scenarios", "observability"]
"""
    result = stage(suite(tmp_path, text), url=db_url)

    assert result.check("scenarios").ok
    observability = result.check("observability")
    assert not observability.ok and result.verdict == "block"
    assert "1 model call(s) with no token usage" in observability.detail
    assert result.cases[0].run_id[:12] in observability.detail


def test_traffic_selection_filters_and_never_selects_staged_runs(
    db_url: str, tmp_path: Path
) -> None:
    record_payments(db_url)  # pay-50 then pay-500: an interrupted and a resumed run each

    def picked(**traffic: Any) -> list[Any]:
        table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in traffic.items())
        text = f'[suite]\nname = "s"\ngraph = "stage_graphs:payments"\n[traffic]\n{table}\n'
        result = stage(suite(tmp_path, text, f"sel{len(traffic)}.toml"), url=db_url)
        with Store.open(db_url) as store:
            return [store.run(c.source_run_id) for c in result.cases]

    everything = picked(environment="production")
    assert len(everything) == 4
    assert everything == sorted(everything, key=lambda r: r["started_at"], reverse=True)
    # the stage above recorded 4 runs in "staging": still only the 4 recorded runs
    assert len(picked()) == 4
    (newest,) = picked(status="interrupted", limit=1)
    assert newest["thread_id"] == "pay-500" and newest["status"] == "interrupted"
    assert {r["thread_id"] for r in picked(thread="pay-50", graph="payments")} == {"pay-50"}
    bad = cli_stage(
        db_url,
        suite(tmp_path, '[suite]\nname = "s"\ngraph = "stage_graphs:payments"\n'
              '[traffic]\nsince = "2999-01-01"\n', "future.toml"),
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "[traffic] matches no recorded run (since = '2999-01-01')" in bad.stderr


def test_runs_that_ran_no_step_are_not_traffic(db_url: str, tmp_path: Path) -> None:
    """A resume of a finished thread, or a run a kill order refused, recorded no checkpoint:
    nothing to replay, so not a regression of the candidate."""
    from lgaudit import GuardTripped, kill, lift_kill

    record_payments(db_url, amounts=(50,))
    record(db_url, stage_graphs.payments(), [Command(resume="approve")], "pay-50")  # no-op
    order = kill(reason="maintenance", environment="production", url=db_url)
    with Recorder(db_url, environment="production", guard={}) as rec:
        with pytest.raises(GuardTripped):
            rec.attach(stage_graphs.payments()).invoke({"amount": 7})
    lift_kill(order.id, url=db_url)
    with Store.open(db_url) as store:
        assert len(store.runs(limit=None)) == 4
    text = (
        '[suite]\nname = "s"\ngraph = "stage_graphs:payments"\n'
        '[traffic]\n[gate]\nrequire = ["traffic"]\n'
    )
    result = stage(suite(tmp_path, text), url=db_url)
    assert [c.outcome for c in result.cases] == ["same", "same"]
    assert result.verdict == "promote"
