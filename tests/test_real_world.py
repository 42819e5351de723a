"""LangGraph as its users write it: the seed's demo verbatim, prebuilt agents replayed under
their recorded config, a forged approval through ``update_state(Command)``, and ``attach``
keeping what the graph was compiled with (store, cache, interrupts, retry policies)."""

from __future__ import annotations

import asyncio
import json
import operator
import re
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from click.testing import CliRunner
from langchain_core.runnables import RunnableConfig
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import CachePolicy, Command, RetryPolicy, interrupt
from replay_graphs import AGENT_INPUT

from lgaudit import Recorder, Store, audit, diff, replay
from lgaudit.cli import cli

# -- the seed's demo, verbatim (only the recorder added) -------------------------------------

ENV = "staging"


class State(TypedDict):
    input: str
    step: int
    approved: bool
    output: str


staging_config = {
    "environment": ENV,
    "recursion_limit": 10,
    "checkpointing": True,
    "cost_tracking": True,
    "debug": True,
}


def planner(state: State):
    return {"step": state["step"] + 1}


def executor(state: State):
    return {"output": f"Processed: {state['input']} (step {state['step']})"}


def reviewer(state: State):
    return {"approved": state["step"] >= 2}


def seed_builder() -> StateGraph:
    builder = StateGraph(State)

    builder.add_node("plan", planner)
    builder.add_node("execute", executor)
    builder.add_node("review", reviewer)

    builder.set_entry_point("plan")
    builder.add_edge("plan", "execute")
    builder.add_edge("execute", "review")

    builder.add_conditional_edges(
        "review", lambda s: END if s["approved"] else "plan", {"plan": "plan", END: END}
    )
    return builder


SEED_INPUT = {"input": "Quarterly financial report", "step": 0, "approved": False, "output": ""}
SEED_RESULT = {
    "input": "Quarterly financial report",
    "step": 2,
    "approved": True,
    "output": "Processed: Quarterly financial report (step 2)",
}


def _call(graph: Any, how: str) -> Any:
    """One top-level call with the seed's config, as a user makes it."""
    if how == "invoke":
        return graph.invoke(dict(SEED_INPUT), config=staging_config)
    if how == "stream":
        return [c for c in graph.stream(dict(SEED_INPUT), config=staging_config)][-1]
    if how == "ainvoke":
        return asyncio.run(graph.ainvoke(dict(SEED_INPUT), config=staging_config))

    async def collect() -> list[Any]:
        return [c async for c in graph.astream(dict(SEED_INPUT), config=staging_config)]

    return asyncio.run(collect())[-1]


@pytest.mark.parametrize("how", ["invoke", "stream", "ainvoke", "astream"])
def test_seed_demo_runs_unmodified_with_the_recorder(db_url: str, how: str) -> None:
    plain = _call(seed_builder().compile(), how)
    with Recorder(db_url) as recorder:
        graph = recorder.attach(seed_builder().compile())
        first = _call(graph, how)
        second = _call(graph, how)
    assert first == second == plain
    if how in ("invoke", "ainvoke"):
        assert first == SEED_RESULT
    with Store.open(db_url) as store:
        runs = store.runs()
        assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
        # each call ran fresh, on a thread the recorder made for that run alone
        assert all(r["run_id"] in (r["thread_id"] or "") for r in runs)
        assert runs[0]["thread_id"] != runs[1]["thread_id"]
        assert {r["environment"] for r in runs} == {"staging"}  # the config's environment
        start = store.events(runs[0]["run_id"], kinds=["run_start"])[0]
        assert start["payload"]["config"]["recursion_limit"] == 10
        assert store.verify()["ok"]


def test_seed_demo_keeps_its_recursion_limit(db_url: str) -> None:
    """The seed's ``recursion_limit: 10`` still stops a loop that never approves."""
    with Recorder(db_url) as recorder:
        graph = recorder.attach(never_approves())
        with pytest.raises(Exception, match="Recursion limit of 10"):
            graph.invoke(dict(SEED_INPUT), config=staging_config)
    with Store.open(db_url) as store:
        assert [r["status"] for r in store.runs()] == ["failed"]


def test_own_checkpointer_without_thread_fails_as_without_the_recorder(db_url: str) -> None:
    plain = seed_builder().compile(checkpointer=InMemorySaver())
    with pytest.raises(Exception, match="thread_id") as without:
        plain.invoke(dict(SEED_INPUT), config=staging_config)
    with Recorder(db_url) as recorder:
        graph = recorder.attach(seed_builder().compile(checkpointer=InMemorySaver()))
        with pytest.raises(Exception, match="thread_id") as recorded:
            graph.invoke(dict(SEED_INPUT), config=staging_config)
    assert type(recorded.value) is type(without.value)  # the user's saver decides


def test_demo_runs_the_seed_config_as_written(tmp_path: Path) -> None:
    from lgaudit.demo import STAGING_CONFIG

    assert STAGING_CONFIG == staging_config
    url = f"sqlite:///{tmp_path}/demo.db"
    result = CliRunner().invoke(cli, ["demo", "--json", "--db", url])
    assert result.exit_code == 0, result.output
    with Store.open(url) as store:
        staging_run = store.run(json.loads(result.output)["staging_run"])
        assert staging_run["status"] == "succeeded"
        assert staging_run["thread_id"].startswith("lgaudit-")
        start = store.events(staging_run["run_id"], kinds=["run_start"])[0]
        assert start["payload"]["config"] == {"recursion_limit": 10}
    # the demo stages two versions of its approval agent with a suite beside the database
    staged = json.loads(result.output)["stage"]
    assert Path(staged["suite"]) == tmp_path / "lgaudit-demo-suite.toml"
    assert staged["unchanged"]["verdict"] == "promote"
    assert staged["unchanged"]["failed_checks"] == []
    blocked = staged["fast_lane"]
    assert blocked["verdict"] == "block"
    assert {"traffic", "oversight"} <= {c["name"] for c in blocked["failed_checks"]}
    first = blocked["first_changed"]
    assert first["outcome"] == "changed"
    assert first["first_divergence"]["node"] == "human_review"
    # the suite it wrote is the user's to run again: the changed version still blocks
    again = CliRunner().invoke(
        cli, ["stage", staged["suite"], "--graph", "lgaudit.demo:agent_fast_lane", "--db", url]
    )
    assert again.exit_code == 1 and "block" in again.output.lower()


# -- prebuilt agents: a strict replay under the recorded config is identical ------------------


@pytest.mark.parametrize("factory", ["react_agent", "langchain_agent"])
def test_strict_replay_of_a_prebuilt_agent_is_identical(db_url: str, factory: str) -> None:
    import real_world_graphs

    with Recorder(db_url) as recorder:
        graph = recorder.attach(getattr(real_world_graphs, factory)())
        out = graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "weather"}})
        assert out["messages"][-1].content == "Oslo and Bergen are sunny."
        run_id = recorder.store.runs()[0]["run_id"]
    result = replay(run_id, graph=f"real_world_graphs:{factory}", url=db_url)
    assert (result.status, result.live_calls) == ("succeeded", 0)
    cli_diff = CliRunner().invoke(cli, ["diff", run_id, result.run_id, "--db", db_url])
    assert cli_diff.exit_code == 0, cli_diff.output
    # from a later checkpoint too: every step keeps the steps it had left
    later = replay(run_id, graph=f"real_world_graphs:{factory}", url=db_url, from_step=2)
    assert later.status == "succeeded"
    assert diff(run_id, later.run_id, url=db_url).identical


def test_replay_runs_under_the_recorded_config(db_url: str) -> None:
    """Tags, metadata, configurable keys and the recursion limit of the recorded call reach
    the replayed graph (callbacks and the thread do not)."""
    seen: list[dict[str, Any]] = []

    class Tally(TypedDict):
        n: Annotated[int, operator.add]

    def count(state: Tally, config: RunnableConfig) -> dict[str, int]:
        seen.append(
            {
                "user": config["configurable"].get("user_id"),
                "tags": sorted(t for t in config.get("tags", []) if not t.startswith("graph:")),
                "team": config["metadata"].get("team"),
            }
        )
        return {"n": 1}

    builder = StateGraph(Tally)
    builder.add_node("count", count)
    builder.add_edge(START, "count")
    graph_factory = builder.compile
    call = {
        "configurable": {"thread_id": "cfg", "user_id": "u-7"},
        "tags": ["nightly"],
        "metadata": {"team": "payments"},
        "recursion_limit": 7,
    }
    with Recorder(db_url) as recorder:
        recorder.attach(graph_factory()).invoke({"n": 0}, call)
        run_id = recorder.store.runs()[0]["run_id"]
    result = replay(run_id, graph=graph_factory(), url=db_url)
    assert result.status == "succeeded"
    assert seen[0] == seen[1] == {"user": "u-7", "tags": ["nightly"], "team": "payments"}
    assert diff(run_id, result.run_id, url=db_url).identical


def never_approves() -> Any:
    """The seed's graph with a reviewer that never approves: only the limit stops it."""
    builder = seed_builder()
    builder.nodes["review"].runnable.func = lambda s: {"approved": False}  # type: ignore[attr-defined]
    return builder.compile()


def test_replay_hits_the_recorded_recursion_limit_where_the_run_did(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        with pytest.raises(Exception, match="Recursion limit of 10"):
            recorder.attach(never_approves()).invoke(dict(SEED_INPUT), config=staging_config)
        run_id = recorder.store.runs()[0]["run_id"]
    for step in (None, 3):
        result = replay(run_id, graph=never_approves(), url=db_url, from_step=step)
        assert result.status == "failed" and "Recursion limit" in (result.error or "")
        with Store.open(db_url) as store:
            steps = [e["step"] for e in store.events(result.run_id, kinds=["node_start"])]
            original = [e["step"] for e in store.events(run_id, kinds=["node_start"])]
        assert max(steps) == max(original)  # stopped at the same step, not later


# -- a forged approval: update_state with a Command, as the gate, with no human --------------


class Payment(TypedDict, total=False):
    amount: int
    approved: bool
    paid: bool


def human_approval(state: Payment) -> Command:
    answer = interrupt({"amount": state["amount"]})
    approved = answer == "approve"
    return Command(goto="execute_payment" if approved else END, update={"approved": approved})


def execute_payment(state: Payment) -> dict[str, bool]:
    return {"paid": True}


def payment_graph() -> Any:
    builder = StateGraph(Payment)
    builder.add_node("human_approval", human_approval, destinations=("execute_payment", END))
    builder.add_node("execute_payment", execute_payment)
    builder.add_edge(START, "human_approval")
    builder.add_edge("execute_payment", END)
    return builder.compile()


PAYMENT_POLICY = {
    "approval": {
        "gates": ["human_approval"],
        "protected": ["execute_payment"],
        "state_key": "approved",
    }
}


def test_update_state_command_forging_the_gate_is_forged(db_url: str) -> None:
    cfg = {"configurable": {"thread_id": "pay-1"}}
    with Recorder(db_url) as recorder:
        graph = recorder.attach(payment_graph())
        graph.invoke({"amount": 5}, cfg)
        graph.update_state(
            cfg,
            Command(goto="execute_payment", update={"approved": True}),
            as_node="human_approval",
        )
        assert graph.invoke(None, cfg)["paid"] is True
    with Store.open(db_url) as store:
        runs = [r["run_id"] for r in store.runs(thread_id="pay-1")]
        update = next(e for r in runs for e in store.events(r, kinds=["state_update"]))
    assert update["payload"]["values"] == {"approved": True}
    assert update["payload"]["command"]["goto"] == "execute_payment"
    report = audit(runs, PAYMENT_POLICY, url=db_url)
    rules = {f.rule for f in report.findings}
    assert {"approval.forged", "approval.bypass"} <= rules
    forged = next(f for f in report.findings if f.rule == "approval.forged")
    assert forged.node == "human_approval" and forged.channel == "approved"
    assert forged.run_id == update["run_id"]


def test_a_human_approving_the_same_payment_is_clean(db_url: str) -> None:
    cfg = {"configurable": {"thread_id": "pay-2"}}
    with Recorder(db_url) as recorder:
        graph = recorder.attach(payment_graph())
        graph.invoke({"amount": 5}, cfg)
        assert graph.invoke(Command(resume="approve"), cfg)["paid"] is True
        runs = [r["run_id"] for r in recorder.store.runs(thread_id="pay-2")]
    assert audit(runs, PAYMENT_POLICY, url=db_url).findings == ()


# -- attach keeps what the graph was compiled with --------------------------------------------


class Memo(TypedDict):
    q: str
    recalled: list[str]
    cached_runs: int


def compiled_with_everything(calls: list[str]) -> Any:
    """A store read through the injected argument and ``get_store()``, a cached node, a
    node that fails once under a retry policy, and ``interrupt_before``."""

    def cached(state: Memo) -> dict[str, Any]:
        calls.append("cached")
        return {"cached_runs": state["cached_runs"] + 1}

    def flaky(state: Memo) -> dict[str, Any]:
        calls.append("flaky")
        if calls.count("flaky") % 2 == 1:
            raise ConnectionError("transient")
        return {}

    def recall(state: Memo, store: BaseStore) -> dict[str, Any]:
        found = [i.value["fact"] for i in store.search(("u1", "facts"))]
        get_store().put(("u1", "facts"), f"k{len(found)}", {"fact": state["q"]})
        return {"recalled": found}

    builder = StateGraph(Memo)
    builder.add_node(
        "cached", cached, cache_policy=CachePolicy(key_func=lambda s: str(s["cached_runs"]))
    )
    builder.add_node("flaky", flaky, retry_policy=RetryPolicy(retry_on=ConnectionError))
    builder.add_node("recall", recall)
    builder.add_edge(START, "cached")
    builder.add_edge("cached", "flaky")
    builder.add_edge("flaky", "recall")
    builder.add_edge("recall", END)
    return builder.compile(
        store=InMemoryStore(),
        cache=InMemoryCache(),
        interrupt_before=["recall"],
        name="memo_graph",
    )


def _exercise(graph: Any) -> list[Any]:
    seen = []
    for thread in ("a", "b"):
        cfg = {"configurable": {"thread_id": thread}}
        seen.append(graph.invoke({"q": f"fact-{thread}", "recalled": [], "cached_runs": 0}, cfg))
        seen.append(graph.get_state(cfg).next)
        seen.append(graph.invoke(None, cfg))
    return seen


def test_attach_keeps_store_cache_interrupts_and_retries(db_url: str) -> None:
    plain_calls: list[str] = []
    plain = _exercise(compiled_with_everything(plain_calls).copy({"checkpointer": InMemorySaver()}))
    recorded_calls: list[str] = []
    with Recorder(db_url) as recorder:
        original = compiled_with_everything(recorded_calls)
        graph = recorder.attach(original)
        assert graph.store is original.store and graph.cache is original.cache
        assert graph.name == "memo_graph" and graph.interrupt_before_nodes == ["recall"]
        seen = _exercise(graph)
    assert seen == plain
    assert seen[1] == ("recall",)  # interrupted before recall
    assert seen[5]["recalled"] == ["fact-a"]  # thread b recalls what thread a stored
    assert recorded_calls == plain_calls
    assert recorded_calls.count("cached") == 1  # the second thread hit the cache
    with Store.open(db_url) as store:
        runs = store.runs(limit=None)
        assert {r["graph"] for r in runs} == {"memo_graph"}
        assert sorted(r["status"] for r in runs) == ["interrupted"] * 2 + ["succeeded"] * 2
        retried = [
            e
            for r in runs
            for e in store.events(r["run_id"], kinds=["node_error"])
            if e["node"] == "flaky"
        ]
        assert len(retried) == 2  # each thread's first attempt, then its retry succeeded


# -- report --against: the page's own run is ``a`` ---------------------------------------------


def test_report_against_labels_the_pages_run_as_a(
    db_url: str, tmp_path: Path, browser: Any
) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(seed_builder().compile())
        graph.invoke(dict(SEED_INPUT), config=staging_config)
        other_input = {**SEED_INPUT, "input": "Annual report"}
        graph.invoke(other_input, config=staging_config)
        other, run = (r["run_id"] for r in recorder.store.runs())
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["report", run, "--against", other, "--html", str(page), "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert f"a = run <code>{run}</code>, b = run <code>{other}</code>" in html
    first = re.search(r"first divergence.*?<code>(.*?)</code> → <code>(.*?)</code>", html)
    assert first is not None
    assert "Quarterly" in first.group(1) and "Annual" in first.group(2)
    shown = browser.new_page()
    shown.goto(page.as_uri())
    header = shown.locator("table tr", has=shown.locator("th", has_text="path")).last
    assert f"a ({run[:12]})" in header.inner_text() and f"b ({other[:12]})" in header.inner_text()
    assert f"a = run {run}, b = run {other}" in shown.locator("body").inner_text()
