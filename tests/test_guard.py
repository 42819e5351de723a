"""The live guard, the kill switch and abandoned runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, TypedDict

import pytest
from click.testing import CliRunner
from helpers import tamper
from langgraph.graph import END, START, StateGraph
from replay_graphs import AGENT_INPUT, CALLS, agent
from test_real_world import SEED_INPUT, SEED_RESULT, never_approves, seed_builder

from lgaudit import BadInputError, GuardTripped, Recorder, Store, audit, kill, kills, lift_kill
from lgaudit.cli import cli

TESTS = Path(__file__).parent


def _events(url: str, run_id: str, kind: str) -> list[dict[str, Any]]:
    with Store.open(url) as store:
        return list(store.events(run_id, kinds=[kind]))


def _only_run(url: str) -> dict[str, Any]:
    with Store.open(url) as store:
        runs = store.runs()
    assert len(runs) == 1
    return runs[0]


# -- budgets and rates ------------------------------------------------------------------------


def test_a_looping_graph_stops_at_its_node_repeat_limit(db_url: str) -> None:
    with Recorder(db_url, guard={"budget": {"max_node_repeats": 3}}) as recorder:
        graph = recorder.attach(never_approves())
        with pytest.raises(GuardTripped, match="loop.node_repeats") as tripped:
            graph.invoke(dict(SEED_INPUT), {"recursion_limit": 1000})
    assert (tripped.value.rule, tripped.value.limit, tripped.value.value) == (
        "loop.node_repeats",
        3,
        4,
    )
    run = _only_run(db_url)
    assert run["status"] == "failed"
    guard = _events(db_url, run["run_id"], "guard")
    assert [(g["node"], g["payload"]["rule"]) for g in guard] == [("plan", "loop.node_repeats")]
    plans = [e for e in _events(db_url, run["run_id"], "node_start") if e["node"] == "plan"]
    assert len(plans) == 3  # the fourth never started
    error = _events(db_url, run["run_id"], "run_error")[0]["payload"]["error"]
    assert error["type"] == "GuardTripped"
    rules = {f.rule for f in audit([run["run_id"]], url=db_url).findings}
    assert {"loop.node_repeats", "run.error"} <= rules


def test_an_agent_over_its_token_budget_stops_before_the_next_model_call(db_url: str) -> None:
    CALLS.clear()
    policy = {"budget": {"max_tokens": 20}}  # the model's calls use 14, then 24 tokens
    with Recorder(db_url, guard=policy) as recorder:
        graph = recorder.attach(agent())
        with pytest.raises(GuardTripped, match="budget.tokens"):
            graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    assert CALLS["model"] == 2  # the third call was refused before reaching the model
    run = _only_run(db_url)
    assert run["status"] == "failed" and run["tokens"] == 38
    guard = _events(db_url, run["run_id"], "guard")[0]
    assert guard["payload"]["rule"] == "budget.tokens" and guard["node"] == "agent"
    assert (guard["payload"]["limit"], guard["payload"]["value"]) == (20, 38)
    assert [
        f.rule for f in audit([run["run_id"]], url=db_url).findings if f.rule != "run.error"
    ] == ["budget.tokens"]


@pytest.mark.parametrize(
    ("policy", "rule", "model_calls", "tool_calls"),
    [
        ({"budget": {"max_llm_calls": 1}}, "budget.llm_calls", 1, 1),
        ({"budget": {"max_tool_calls": 1}}, "budget.tool_calls", 2, 1),
        ({"rate": {"max_llm_calls_per_minute": 2}}, "rate.llm_calls", 2, 2),
        ({"rate": {"max_tool_calls_per_minute": 1}}, "rate.tool_calls", 2, 1),
    ],
)
def test_call_limits_stop_the_next_call(
    db_url: str, policy: dict[str, Any], rule: str, model_calls: int, tool_calls: int
) -> None:
    CALLS.clear()
    with Recorder(db_url, guard=policy) as recorder:
        graph = recorder.attach(agent())
        with pytest.raises(GuardTripped, match=rule):
            graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    assert (CALLS["model"], CALLS["tool"]) == (model_calls, tool_calls)
    run = _only_run(db_url)
    assert [g["payload"]["rule"] for g in _events(db_url, run["run_id"], "guard")] == [rule]
    assert rule in {f.rule for f in audit([run["run_id"]], url=db_url).findings}


PRICES = {"gpt-4o": {"input": 2.5, "output": 10.0}}  # USD per million tokens


@pytest.mark.parametrize(
    ("prices", "message", "model_calls"),
    [
        # the first call (10 in, 4 out) costs $0.000065, past the limit: the second is refused
        (PRICES, r"cost \$0.0001, more than max_cost_usd", 1),
        # a model with no price has an unknown cost: never counted as free
        ({"other-model": {"input": 1.0, "output": 1.0}}, "gpt-4o has no price", 1),
    ],
)
def test_an_agent_over_its_cost_budget_stops_before_the_next_model_call(
    db_url: str, prices: dict[str, Any], message: str, model_calls: int
) -> None:
    CALLS.clear()
    policy = {"budget": {"max_cost_usd": 0.00005, "prices": prices}}
    with Recorder(db_url, guard=policy) as recorder:
        graph = recorder.attach(agent())
        with pytest.raises(GuardTripped, match=message) as tripped:
            graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    assert tripped.value.rule == "budget.cost"
    assert CALLS["model"] == model_calls
    run = _only_run(db_url)
    assert [g["payload"]["rule"] for g in _events(db_url, run["run_id"], "guard")] == [
        "budget.cost"
    ]


def test_within_its_limits_a_guarded_run_is_untouched(db_url: str) -> None:
    policy = {
        "budget": {"max_llm_calls": 3, "max_tokens": 100},
        "rate": {"max_llm_calls_per_minute": 3},
    }
    with Recorder(db_url, guard=policy) as recorder:
        out = recorder.attach(agent()).invoke(
            dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}}
        )
    assert out["messages"][-1].content == "Oslo and Bergen are sunny."
    run = _only_run(db_url)
    assert run["status"] == "succeeded" and not _events(db_url, run["run_id"], "guard")


def test_a_malformed_guard_policy_is_bad_input(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="rate.max_calls"):
        Recorder(db_url, guard={"rate": {"max_calls": 3}})
    with pytest.raises(BadInputError, match="not found"):
        Recorder(db_url, guard=tmp_path / "missing.toml")
    policy = tmp_path / "guard.toml"
    policy.write_text("[budget]\nmax_node_repeats = 2\n")
    with Recorder(db_url, guard=policy) as recorder:
        with pytest.raises(GuardTripped):
            recorder.attach(never_approves()).invoke(dict(SEED_INPUT), {"recursion_limit": 100})


# -- the kill switch ------------------------------------------------------------------------


class Ticks(TypedDict):
    n: int


def ticking_graph(started: threading.Event) -> Any:
    """A graph that loops until stopped: each step waits a little, as a slow agent would."""

    def tick(state: Ticks) -> dict[str, int]:
        started.set()
        threading.Event().wait(0.02)
        return {"n": state["n"] + 1}

    builder = StateGraph(Ticks)
    builder.add_node("tick", tick)
    builder.add_edge(START, "tick")
    builder.add_conditional_edges("tick", lambda s: "tick" if s["n"] < 10**6 else END)
    return builder.compile()


def _lgaudit(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lgaudit.cli", *args, "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS.parent,
    )


def test_kill_from_another_process_stops_a_running_graph_and_refuses_new_runs(
    db_url: str,
) -> None:
    started = threading.Event()
    errors: list[BaseException] = []
    with Recorder(db_url, environment="staging", guard={}) as recorder:
        graph = recorder.attach(ticking_graph(started))

        def run() -> None:
            try:
                graph.invoke({"n": 0}, {"recursion_limit": 10**7})
            except BaseException as e:  # noqa: BLE001 - the test inspects it
                errors.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        assert started.wait(30)
        killed = _lgaudit(
            db_url, "kill", "--environment", "staging", "--reason", "runaway", "--json"
        )
        assert killed.returncode == 0, killed.stderr
        order = json.loads(killed.stdout)
        worker.join(timeout=60)
        assert not worker.is_alive(), "the kill order did not stop the run"
        assert isinstance(errors[0], GuardTripped) and errors[0].rule == "guard.killed"
        assert order["id"] in str(errors[0])

        # a new run of the environment is refused while the order stands
        with pytest.raises(GuardTripped, match="guard.killed"):
            graph.invoke({"n": 10**6 - 2})
        lifted = _lgaudit(db_url, "kill", "--lift", order["id"])
        assert lifted.returncode == 0, lifted.stderr
        recorder.kill_check.watch.poll()  # what the watch does every 250 ms
        assert graph.invoke({"n": 10**6 - 2})["n"] == 10**6
    with Store.open(db_url) as store:
        runs = store.runs()
        assert [r["status"] for r in runs] == ["succeeded", "failed", "failed"]
        for refused in runs[1:]:
            guard = store.events(refused["run_id"], kinds=["guard"])
            assert [g["payload"]["rule"] for g in guard] == ["guard.killed"]
        assert store.verify()["ok"]
    report = audit([r["run_id"] for r in runs], url=db_url)
    assert [f.rule for f in report.findings].count("guard.killed") == 2
    assert [k.active for k in kills(url=db_url)] == [False]


def test_kill_orders_match_their_target_and_spare_only_opted_out_recorders(db_url: str) -> None:
    order = kill(reason="stop thread t1", thread="t1", url=db_url)
    with Recorder(db_url, environment="staging", guard={}) as recorder:
        graph = recorder.attach(seed_builder().compile())
        with pytest.raises(GuardTripped, match="guard.killed"):
            graph.invoke(dict(SEED_INPUT), {"configurable": {"thread_id": "t1"}})
        assert graph.invoke(dict(SEED_INPUT), {"configurable": {"thread_id": "t2"}}) == SEED_RESULT
    lift_kill(order.id, url=db_url)
    kill(reason="everything", url=db_url)  # no target: every run of every recorder
    with Recorder(db_url, environment="staging", guard={}) as guarded:
        with pytest.raises(GuardTripped, match="everything"):
            guarded.attach(seed_builder().compile()).invoke(dict(SEED_INPUT))
    with Recorder(db_url, environment="staging", kill_switch=False) as opted_out:
        assert opted_out.attach(seed_builder().compile()).invoke(dict(SEED_INPUT)) == SEED_RESULT
    with Store.open(db_url) as store:
        assert [r["status"] for r in store.runs()] == ["succeeded", "failed", "succeeded", "failed"]


def test_a_tampered_kill_order_is_found_by_verify(db_url: str) -> None:
    order = kill(reason="runaway", environment="prod", url=db_url)
    with Store.open(db_url) as store:
        assert store.verify()["ok"]
    tamper(
        db_url,
        [
            (
                "UPDATE lgaudit_kill_orders SET environment = ? WHERE order_id = ?",
                ["staging", order.id],
            )
        ],
    )
    result = CliRunner().invoke(cli, ["verify", "--json", "--db", db_url])
    assert result.exit_code == 1
    bad = json.loads(result.output)["first_bad"]
    assert "state rows" in bad["reason"]


@pytest.mark.parametrize(
    "args",
    [
        ["kill", "--environment", "staging"],  # no reason
        ["kill", "--environment", "a", "--thread", "b", "--reason", "x"],
        ["kill", "--run", "ffffffff", "--reason", "x"],  # unknown run
        ["kill", "--lift", "nope"],
        ["kill", "--lift", "LIFTED"],  # already lifted
        ["kill", "--lift", "ACTIVE", "--environment", "x"],
    ],
)
def test_bad_kill_input_exits_2_and_changes_nothing(db_url: str, args: list[str]) -> None:
    from helpers import snapshot

    lifted = kill(reason="old", environment="e1", url=db_url)
    lift_kill(lifted.id, url=db_url)
    active = kill(reason="new", environment="e2", url=db_url)
    args = [{"LIFTED": lifted.id, "ACTIVE": active.id}.get(a, a) for a in args]
    before = snapshot(db_url)
    result = CliRunner().invoke(cli, [*args, "--db", db_url])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert snapshot(db_url) == before


# -- abandoned runs --------------------------------------------------------------------------

_RECORDING_PROCESS = """
import sys, time
from typing import TypedDict
from langgraph.graph import START, StateGraph
from lgaudit import Recorder

class S(TypedDict):
    n: int

def wait(state: S) -> dict:
    open(sys.argv[2], "w").close()  # the run is recording: tell the test
    time.sleep(600)
    return {}

builder = StateGraph(S)
builder.add_node("wait", wait)
builder.add_edge(START, "wait")
with Recorder(sys.argv[1], durability="sync") as recorder:
    recorder.attach(builder.compile()).invoke({"n": 0})
"""


def test_a_run_whose_recorder_was_killed_is_abandoned_and_a_live_one_running(
    db_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    script = tmp_path / "record.py"
    script.write_text(textwrap.dedent(_RECORDING_PROCESS))
    proc = subprocess.Popen([sys.executable, str(script), db_url, str(marker)])
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert marker.exists(), "the recording process did not start its run"
        with Store.open(db_url) as store:
            assert [r["status"] for r in store.runs()] == ["running"]
        # a live run in this process, blocked in its node, stays running
        release = threading.Event()
        entered = threading.Event()

        def hold(state: Ticks) -> dict[str, int]:
            entered.set()
            release.wait(60)
            return {"n": 1}

        builder = StateGraph(Ticks)
        builder.add_node("hold", hold)
        builder.add_edge(START, "hold")
        with Recorder(db_url, durability="sync") as recorder:
            worker = threading.Thread(
                target=recorder.attach(builder.compile()).invoke, args=({"n": 0},)
            )
            worker.start()
            assert entered.wait(30)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            statuses: dict[str, str] = {}
            for _ in range(300):  # within 30 s
                result = CliRunner().invoke(cli, ["runs", "--json", "--db", db_url])
                statuses = {
                    r["graph"] + str(i): r["status"]
                    for i, r in enumerate(json.loads(result.output))
                }
                if "abandoned" in statuses.values():
                    break
                threading.Event().wait(0.1)
            assert sorted(statuses.values()) == ["abandoned", "running"]
            release.set()
            worker.join(30)
        with Store.open(db_url) as store:
            assert sorted(r["status"] for r in store.runs()) == ["abandoned", "succeeded"]
            assert store.verify()["ok"]
    finally:
        if proc.poll() is None:
            proc.kill()
