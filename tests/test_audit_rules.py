"""Every audit rule: a recorded graph that triggers it and a clean twin that does not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from audit_graphs import (
    cfg,
    fan_graph,
    items_graph,
    record_agent,
    runs_of,
    subgraph_gate_graph,
    subgraph_graph,
    tool_agent_without_gate,
)
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command

from lgaudit import Policy, Recorder, audit, replay
from lgaudit.demo import AGENT_INPUT, STAGING_INPUT, agent, staging

GATE = {"approval": {"gates": ["human_review"], "state_key": "approved"}}
PROTECT = {"approval": {"gates": ["human_review"], "protected": ["tool:send_email"]}}


@pytest.fixture
def rec(db_url: str):
    r = Recorder(db_url)
    yield r
    r.close()


def rules_of(rec: Recorder, runs: list[str], policy: dict[str, Any] | None = None) -> list[str]:
    report = audit(rec.store, runs, Policy.from_dict(policy) if policy is not None else None)
    return [f.rule for f in report.findings]


def test_in_place_mutation_is_an_unexplained_change(rec: Recorder) -> None:
    rec.attach(items_graph(mutate=True)).invoke({"items": [], "other": 0}, cfg("mut"))
    (run,) = runs_of(rec, "mut")
    report = audit(rec.store, [run])
    (f,) = [f for f in report.findings if f.rule == "state.unexplained_change"]
    assert f.channel == "items" and f.step == 4 and f.node == "last"
    assert "['a', 'z']" in f.message.replace('"', "'") and "['a']" in f.message.replace('"', "'")
    assert "touch" in f.message  # the node of the step before is named as the suspect
    assert report.failed


def test_clean_twin_of_mutation_and_every_shape_is_silent(rec: Recorder) -> None:
    rec.attach(items_graph(mutate=False)).invoke({"items": [], "other": 0}, cfg("clean"))
    rec.attach(fan_graph()).invoke({"topics": ["x", "y", "z"], "results": []}, cfg("fan"))
    rec.attach(subgraph_graph()).invoke({"items": []}, cfg("sub"))
    rec.attach(staging()).invoke(dict(STAGING_INPUT), cfg("staging"))
    agent_runs = record_agent(rec, "agent")
    graph = rec.attach(items_graph(mutate=False))
    graph.invoke({"items": [], "other": 0}, cfg("upd"))
    graph.update_state(cfg("upd"), {"items": ["edited"]}, as_node="first")
    runs = [
        *runs_of(rec, "clean"),
        *runs_of(rec, "fan"),
        *runs_of(rec, "sub"),
        *runs_of(rec, "staging"),
        *agent_runs,
        *runs_of(rec, "upd"),
    ]
    assert rules_of(rec, runs) == []


def test_messages_given_in_any_form_add_messages_accepts_are_explained(rec: Recorder) -> None:
    """``add_messages`` turns strings, tuples and role or type dicts into messages: the
    checkpoint then holds a message the recorded write does not spell out, and that is no
    unexplained change."""
    builder = StateGraph(MessagesState)
    builder.add_node("reply", lambda s: {"messages": [AIMessage(f"{len(s['messages'])} seen")]})
    builder.add_edge(START, "reply")
    graph = rec.attach(builder.compile())
    forms: dict[str, Any] = {
        "str": "hello",
        "tuple": [("user", "hello")],
        "role": [{"role": "user", "content": "hello"}],
        "type": [{"type": "human", "content": "hello"}],
        "mixed": [{"role": "user", "content": "hi"}, ("assistant", "yes?"), "hello"],
    }
    for name, messages in forms.items():
        graph.invoke({"messages": messages}, cfg(name))
    graph.update_state(cfg("role"), {"messages": [{"role": "user", "content": "more"}]})
    runs = [run for name in forms for run in runs_of(rec, name)]
    assert len(runs) == len(forms) + 1
    assert rules_of(rec, runs) == []

    # a message edited in place is still caught: the checkpoint says what no write said
    def tamper(state: MessagesState) -> dict[str, Any]:
        state["messages"][0].content = "tampered"
        return {"messages": [AIMessage("done")]}

    builder.add_node("tamper", tamper)
    builder.add_edge("reply", "tamper")
    graph = rec.attach(builder.compile())
    graph.invoke({"messages": [{"role": "user", "content": "hello"}]}, cfg("edited"))
    (run,) = runs_of(rec, "edited")
    assert "state.unexplained_change" in rules_of(rec, [run])


def test_a_thread_saved_only_at_exit_is_not_an_unexplained_change(rec: Recorder) -> None:
    """With LangGraph's ``durability="exit"`` the steps between a call's first and last
    checkpoint are not saved (nor their writes): no change can be judged across them, and
    none is reported, over several calls and an interrupt and its resume."""
    graph = rec.attach(items_graph(mutate=False))
    for _ in range(3):
        graph.invoke({"items": [], "other": 0}, cfg("exit"), durability="exit")
    agent_graph = rec.attach(agent())
    agent_graph.invoke(dict(AGENT_INPUT), cfg("exit-agent"), durability="exit")
    agent_graph.invoke(Command(resume="approve"), cfg("exit-agent"), durability="exit")
    runs = [*runs_of(rec, "exit"), *runs_of(rec, "exit-agent")]
    assert len(runs) == 5
    assert rules_of(rec, runs) == []
    # the gate's decision is not saved either: it is taken from the resume the run gave
    assert rules_of(rec, runs_of(rec, "exit-agent"), PROTECT) == []
    agent_graph.invoke(dict(AGENT_INPUT), cfg("exit-no"), durability="exit")
    agent_graph.invoke(Command(resume="no"), cfg("exit-no"), durability="exit")
    ungated = rec.attach(tool_agent_without_gate())
    ungated.invoke({"messages": [("user", "send it anyway")]}, cfg("exit-no"), durability="exit")
    assert rules_of(rec, runs_of(rec, "exit-no"), PROTECT) == ["approval.bypass"]


def test_forged_approval_in_the_seed_staging_graph(rec: Recorder) -> None:
    rec.attach(staging()).invoke(dict(STAGING_INPUT), cfg("seed"))
    (run,) = runs_of(rec, "seed")
    report = audit(rec.store, [run], Policy.from_dict(GATE))
    (f,) = report.findings
    assert (f.rule, f.node, f.channel, f.step) == ("approval.forged", "review", "approved", 6)


def test_gate_approval_is_not_forged_but_update_state_is(rec: Recorder) -> None:
    runs = record_agent(rec, "gate")
    assert rules_of(rec, runs, GATE) == []
    graph = rec.attach(agent())
    graph.update_state(cfg("gate"), {"approved": True}, as_node="human_review")
    update_run = runs_of(rec, "gate")[-1]
    report = audit(rec.store, [update_run], Policy.from_dict(GATE))
    assert [(f.rule, f.channel) for f in report.findings] == [("approval.forged", "approved")]
    (update,) = [e for e in rec.store.events(update_run) if e["kind"] == "checkpoint"]
    assert report.findings[0].step == update["step"] is not None  # the step it created


def test_an_approval_handed_up_by_a_subgraph_gate_is_not_forged(rec: Recorder) -> None:
    policy = {"approval": {"gates": ["human_review"], "state_key": "approved",
                           "protected": ["execute_payment"]}}  # fmt: skip
    graph = rec.attach(subgraph_gate_graph(ask=True))
    graph.invoke({}, cfg("sub-gate"))
    graph.invoke(Command(resume="yes"), cfg("sub-gate"))
    assert rules_of(rec, runs_of(rec, "sub-gate"), policy) == []
    rec.attach(subgraph_gate_graph(ask=False)).invoke({}, cfg("sub-self"))
    found = rules_of(rec, runs_of(rec, "sub-self"), policy)
    assert "approval.forged" in found and "approval.bypass" in found
    # recorded with ainvoke (checkpoints saved well after the next step began), replayed
    # strictly, the replay starts from the approval its fork point had, spent on nothing
    graph = rec.attach(subgraph_gate_graph(ask=True))

    async def approve() -> None:
        await graph.ainvoke({}, cfg("sub-async"))
        await graph.ainvoke(Command(resume="yes"), cfg("sub-async"))

    asyncio.run(approve())
    rec.flush()
    again = replay(runs_of(rec, "sub-async")[-1], graph="audit_graphs:subgraph_gate_graph",
                   url=rec.url, use_async=True)  # fmt: skip
    assert again.status == "succeeded", again.error
    assert rules_of(rec, [again.run_id], policy) == []


def test_agent_with_approving_resume_is_clean_and_without_gate_is_bypass(rec: Recorder) -> None:
    runs = record_agent(rec, "approved")
    assert rules_of(rec, runs, PROTECT) == []
    rec.attach(tool_agent_without_gate()).invoke(
        {"messages": [("user", "Email the Q3 report to the CFO.")]}, cfg("nogate")
    )
    report = audit(rec.store, runs_of(rec, "nogate"), Policy.from_dict(PROTECT))
    (f,) = report.findings
    assert (f.rule, f.node) == ("approval.bypass", "tools") and "send_email" in f.message


def test_a_replay_starts_from_the_approvals_of_the_thread_it_forked(rec: Recorder) -> None:
    """A replay runs in a thread of its own; the approval given before its fork point is
    part of its history (a promotion gate must not fail the replay of an approved run),
    and so are the uses of that approval."""
    runs = record_agent(rec, "approved")
    rec.flush()
    again = replay(runs[1], graph="lgaudit.demo:agent", url=rec.url)
    assert again.status == "succeeded"
    tools = [e for e in rec.store.events(again.run_id) if e["kind"] == "tool_start"]
    assert [e["payload"]["tool"] for e in tools] == ["send_email"]
    assert rules_of(rec, [again.run_id], PROTECT) == []
    # the source thread used its single-use approval before this fork: a reuse
    rec.attach(tool_agent_without_gate()).invoke({"messages": [("user", "again")]}, cfg("approved"))
    third = runs_of(rec, "approved")[-1]
    rec.flush()
    reused = replay(third, graph="audit_graphs:tool_agent_without_gate", url=rec.url)
    assert reused.status == "succeeded"
    assert rules_of(rec, [reused.run_id], PROTECT) == ["approval.resume_reused"]


def test_rejected_resume_then_protected_tool_is_bypass(rec: Recorder) -> None:
    graph = rec.attach(tool_agent_without_gate())
    runs = record_agent(rec, "rejected", resume="no")  # the gate rejects: no tool runs
    assert rules_of(rec, runs, PROTECT) == []
    graph.invoke({"messages": [("user", "send it anyway")]}, cfg("rejected"))
    assert rules_of(rec, runs_of(rec, "rejected"), PROTECT) == ["approval.bypass"]


def test_single_use_approval_reused_for_a_second_tool_call(rec: Recorder) -> None:
    runs = record_agent(rec, "reuse")
    ungated = rec.attach(tool_agent_without_gate())
    ungated.invoke({"messages": [("user", "and again")]}, cfg("reuse"))
    runs = runs_of(rec, "reuse")
    assert rules_of(rec, runs, PROTECT) == ["approval.resume_reused"]
    multi = {"approval": {**PROTECT["approval"], "single_use": False}}
    assert rules_of(rec, runs, multi) == []


def test_budgets_and_loops(rec: Recorder) -> None:
    runs = record_agent(rec, "budget")
    rec.attach(staging()).invoke(dict(STAGING_INPUT), cfg("loop"))
    (loop,) = runs_of(rec, "loop")
    envelope = {
        "budget": {
            "max_steps": 5,
            "max_node_repeats": 1,
            "max_llm_calls": 0,
            "max_tool_calls": 0,
            "max_tokens": 60,
        }
    }
    assert sorted(rules_of(rec, [loop], envelope)) == [
        "budget.steps",
        "loop.node_repeats",
        "loop.node_repeats",
        "loop.node_repeats",
    ]
    assert sorted(rules_of(rec, runs, envelope)) == [
        "budget.llm_calls",
        "budget.llm_calls",
        "budget.tokens",
        "budget.tool_calls",
    ]
    roomy = {
        "budget": {
            "max_steps": 6,
            "max_node_repeats": 2,
            "max_llm_calls": 1,
            "max_tool_calls": 1,
            "max_tokens": 70,
        }
    }
    assert rules_of(rec, [loop, *runs], roomy) == []
    # three Send tasks of one step are a fan-out, not a node repeated three times
    rec.attach(fan_graph()).invoke({"topics": ["x", "y", "z"], "results": []}, cfg("fan"))
    (fan,) = runs_of(rec, "fan")
    assert rules_of(rec, [fan], {"budget": {"max_node_repeats": 1}}) == []


def test_state_owner(rec: Recorder) -> None:
    rec.attach(staging()).invoke(dict(STAGING_INPUT), cfg("own"))
    (run,) = runs_of(rec, "own")
    report = audit(
        rec.store, [run], Policy.from_dict({"state": {"owners": {"output": ["review"]}}})
    )
    assert {(f.rule, f.node, f.channel) for f in report.findings} == {
        ("state.owner", "execute", "output")
    }
    assert rules_of(rec, [run], {"state": {"owners": {"output": ["execute"]}}}) == []
    # an update_state naming the owner is still an edit from outside the graph
    graph = rec.attach(staging())
    graph.update_state(cfg("own"), {"output": "edited"}, as_node="execute")
    update = runs_of(rec, "own")[-1]
    owners = Policy.from_dict({"state": {"owners": {"output": ["execute"]}}})
    (f,) = audit(rec.store, [update], owners).findings
    assert (f.rule, f.node, f.channel) == ("state.owner", "execute", "output")
    (cp,) = [e for e in rec.store.events(update) if e["kind"] == "checkpoint"]
    assert f.step == cp["step"] is not None


def test_failed_run_is_run_error(rec: Recorder) -> None:
    def boom(state: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("bad ledger")

    from audit_graphs import SubState
    from langgraph.graph import START, StateGraph

    b = StateGraph(SubState)
    b.add_node("boom", boom)
    b.add_edge(START, "boom")
    with pytest.raises(ValueError):
        rec.attach(b.compile()).invoke({"items": []}, cfg("fail"))
    (run,) = runs_of(rec, "fail")
    report = audit(rec.store, [run])
    (f,) = report.findings
    assert (f.rule, f.node) == ("run.error", "boom") and "bad ledger" in f.message
    rec.attach(fan_graph()).invoke({"topics": ["x"], "results": []}, cfg("ok"))
    assert rules_of(rec, runs_of(rec, "ok")) == []


def test_resume_with_command_is_recorded_and_clean_without_policy(rec: Recorder) -> None:
    graph = rec.attach(agent())
    graph.invoke({"messages": [("user", "Email it")], "approved": False}, cfg("cmd"))
    graph.invoke(Command(resume={"approved": True}), cfg("cmd"))
    runs = runs_of(rec, "cmd")
    both = {"approval": {**GATE["approval"], **PROTECT["approval"]}}
    assert rules_of(rec, runs, both) == []
