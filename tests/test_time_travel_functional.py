"""LangGraph's own time travel and the Functional API, recorded, replayed and diffed on
SQLite and PostgreSQL — written as LangGraph's how-tos write them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import shape_graphs as sg
from click.testing import CliRunner
from langchain_core.messages import HumanMessage
from langgraph.types import Command

from lgaudit import Recorder, replay
from lgaudit.cli import cli


def lgaudit(db_url: str, *args: str) -> tuple[int, Any]:
    """Run a CLI verb with ``--json``: its exit code and its document."""
    res = CliRunner().invoke(cli, [*args, "--db", db_url, "--json"])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.stdout)


def thread_runs(db_url: str, thread: str) -> list[dict[str, Any]]:
    """The thread's runs, oldest first, as ``lgaudit runs --json`` lists them."""
    _, runs = lgaudit(db_url, "runs", "--thread", thread)
    return list(reversed(runs))


def first_divergence(db_url: str, a: str, b: str) -> tuple[int, Any]:
    code, data = lgaudit(db_url, "diff", a, b)
    assert data["identical"] is (code == 0)
    return code, data["first_divergence"]


# -- time travel (LangGraph's how-to) ------------------------------------------------------


async def _time_travel(graph: Any, config: dict[str, Any], use_async: bool) -> list[Any]:
    """The how-to, verbatim: run, pick the checkpoint before write_joke, fork it with a new
    topic and run the fork, then re-execute the unchanged checkpoint."""
    if use_async:
        original = await graph.ainvoke({}, config)
        states = [s async for s in graph.aget_state_history(config)]
    else:
        original = graph.invoke({}, config)
        states = list(graph.get_state_history(config))
    selected = next(s for s in states if s.next == ("write_joke",))
    assert selected.values == {"topic": "ice cream"}
    if use_async:
        new_config = await graph.aupdate_state(selected.config, values={"topic": "dogs"})
        fork = await graph.ainvoke(None, new_config)
        again = await graph.ainvoke(None, selected.config)
    else:
        new_config = graph.update_state(selected.config, values={"topic": "dogs"})
        fork = graph.invoke(None, new_config)
        again = graph.invoke(None, selected.config)
    return [original, fork, again]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_time_travel_fork_and_re_execution_diff_from_the_checkpoint(
    db_url: str, use_async: bool
) -> None:
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.joke_graph())
        results = await _time_travel(graph, {"configurable": {"thread_id": "jokes"}}, use_async)
    original, fork, again = results
    assert original == {"topic": "ice cream", "joke": "Why did the ice cream cross the road?"}
    assert fork == {"topic": "dogs", "joke": "Why did the dogs cross the road?"}
    assert again == original
    runs = thread_runs(db_url, "jokes")
    assert [r["status"] for r in runs] == ["succeeded"] * 4
    first, update, forked, re_executed = (r["run_id"] for r in runs)
    _, shown = lgaudit(db_url, "show", update)
    (su,) = [e for e in shown["events"] if e["kind"] == "state_update"]
    assert su["payload"]["values"] == {"topic": "dogs"}

    # the fork differs first by the edited value, at the step it was edited: either order
    code, div = first_divergence(db_url, first, forked)
    assert code == 1
    assert (div["step"], div["kind"], div["path"]) == (1, "state", "state.topic")
    assert (div["a"], div["b"]) == ("ice cream", "dogs")
    code, div = first_divergence(db_url, forked, first)
    assert code == 1 and div["path"] == "state.topic"
    assert (div["a"], div["b"]) == ("dogs", "ice cream")
    # ... and write_joke, run after the edit, is compared with the original's write_joke
    _, data = lgaudit(db_url, "diff", first, forked)
    later = [s for s in data["steps"] if s["step"] == 2]
    assert [s["nodes"] for s in later] == [{"a": ["write_joke"], "b": ["write_joke"]}]
    assert {d["path"] for d in later[0]["differences"]} == {"state.joke", "state.topic"}
    # the update run alone: the edit, then nothing ran
    code, div = first_divergence(db_url, first, update)
    assert code == 1 and (div["path"], div["a"], div["b"]) == ("state.topic", "ice cream", "dogs")

    # re-executing an unchanged graph from the old checkpoint did what the original did
    assert first_divergence(db_url, first, re_executed) == (0, None)
    assert first_divergence(db_url, re_executed, first) == (0, None)
    # LangGraph's own fork and update checkpoints explain every state the thread had
    code, found = lgaudit(db_url, "audit", "--thread", "jokes")
    assert (code, found["findings"]) == (0, [])
    # two branches off the same checkpoint: compared from it, both one step ahead
    code, div = first_divergence(db_url, re_executed, forked)
    assert code == 1 and (div["step"], div["path"], div["a"], div["b"]) == (
        1,
        "state.topic",
        "ice cream",
        "dogs",
    )


def test_time_travel_runs_replay_from_where_they_started(db_url: str) -> None:
    """A fork run continued the update's checkpoint: its replay starts there too and runs
    write_joke again (not from after it); a re-execution replays from its fork."""
    config = {"configurable": {"thread_id": "replayed-jokes"}}
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.joke_graph())
        graph.invoke({}, config)
        selected = next(s for s in graph.get_state_history(config) if s.next == ("write_joke",))
        graph.invoke(None, graph.update_state(selected.config, {"topic": "dogs"}))
        graph.invoke(None, selected.config)
    _, _, forked, re_executed = (r["run_id"] for r in thread_runs(db_url, "replayed-jokes"))
    for run in (forked, re_executed):
        res = replay(run, graph="shape_graphs:joke_graph", url=db_url)
        assert (res.status, res.from_step) == ("succeeded", 2), res.error
        starts = [e for e in node_events(db_url, res.run_id) if e["kind"] == "node_start"]
        assert [e["node"] for e in starts] == ["write_joke"]
        _, shown = lgaudit(db_url, "show", res.run_id)
        last = [e for e in shown["events"] if e["kind"] == "checkpoint"][-1]
        joke = "dogs" if run == forked else "ice cream"
        assert last["payload"]["values"]["joke"] == f"Why did the {joke} cross the road?"
        assert first_divergence(db_url, run, res.run_id) == (0, None)
        assert first_divergence(db_url, res.run_id, run) == (0, None)


def test_a_run_continued_past_a_breakpoint_replays_from_it(db_url: str) -> None:
    config = {"configurable": {"thread_id": "breakpoint"}}
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.breakpoint_graph())
        assert graph.invoke({}, config) == {"topic": "ice cream"}  # stopped before write_joke
        assert graph.invoke(None, config)["joke"] == "Why did the ice cream cross the road?"
    stopped, continued = thread_runs(db_url, "breakpoint")
    assert (stopped["status"], continued["status"]) == ("interrupted", "succeeded")
    res = replay(continued["run_id"], graph="shape_graphs:breakpoint_graph", url=db_url)
    assert (res.status, res.from_step) == ("succeeded", 1), res.error
    starts = [e["node"] for e in node_events(db_url, res.run_id) if e["kind"] == "node_start"]
    assert starts == ["write_joke"]
    assert first_divergence(db_url, continued["run_id"], res.run_id) == (0, None)


# -- the Functional API --------------------------------------------------------------------

POLICY = """
[approval]
gates = ["review"]
protected = ["publish"]
approve = ["approve"]
"""


def record_essay(db_url: str, thread: str, answer: str) -> tuple[dict[str, Any], list[str]]:
    """An essay written, reviewed by a human (interrupt, then ``Command(resume=answer)``)."""
    config = {"configurable": {"thread_id": thread}}
    with Recorder(db_url) as rec:
        flow = rec.attach(sg.essay_workflow())
        asked = flow.invoke("cats", config)
        assert asked["__interrupt__"][0].value["question"] == "publish this essay?"
        result = flow.invoke(Command(resume=answer), config)
    return result, [r["run_id"] for r in thread_runs(db_url, thread)]


def node_events(db_url: str, run_id: str) -> list[dict[str, Any]]:
    _, shown = lgaudit(db_url, "show", run_id)
    return [e for e in shown["events"] if e["kind"].startswith("node_")]


def test_functional_tasks_are_recorded_as_nodes(db_url: str) -> None:
    result, (asked, resumed) = record_essay(db_url, "essay", "approve")
    assert result == {
        "essay": "Cats sleep a lot.",
        "approved": True,
        "published": "published: Cats sleep a lot.",
    }
    runs = thread_runs(db_url, "essay")
    assert [(r["status"], r["graph"]) for r in runs] == [
        ("interrupted", "essay_flow"),
        ("succeeded", "essay_flow"),
    ]
    # each task call is a node: its name, input and output, under the entrypoint's step
    nodes = node_events(db_url, asked)
    starts = [(e["node"], e["payload"]["input"]) for e in nodes if e["kind"] == "node_start"]
    assert starts == [
        ("essay_flow", "cats"),
        ("write_essay", {"topic": "cats"}),
        ("review", {"essay": "Cats sleep a lot."}),
    ]
    ends = {e["node"]: e["payload"] for e in nodes if e["kind"] == "node_end"}
    assert ends["write_essay"]["output"] == "Cats sleep a lot."
    assert ends["review"]["status"] == "interrupted"
    assert {e["step"] for e in nodes} == {0}
    _, shown = lgaudit(db_url, "show", asked)
    events = shown["events"]
    (llm,) = [e for e in events if e["kind"] == "llm_end"]
    assert llm["node"] == "write_essay" and llm["model"] == "GenericFakeChatModel"
    (asked_human,) = [e for e in events if e["kind"] == "interrupt"]
    assert asked_human["node"] == "review"
    # the resume re-runs the entrypoint: the finished task is not called again
    nodes = node_events(db_url, resumed)
    assert [e["node"] for e in nodes if e["kind"] == "node_start"] == [
        "essay_flow",
        "review",
        "publish",
    ]
    # every write names its task and node (the resume's own write belongs to no task)
    for run in (asked, resumed):
        _, shown = lgaudit(db_url, "show", run)
        starts = {e["task_id"]: e["node"] for e in shown["events"] if e["kind"] == "node_start"}
        for w in [e for e in shown["events"] if e["kind"] == "writes"]:
            if w["task_id"] != "00000000-0000-0000-0000-000000000000":
                assert w["node"] and starts.get(w["task_id"]) == w["node"], w


def test_functional_retries_and_errors_are_node_events(db_url: str) -> None:
    sg.FLAKY["calls"] = 0
    with Recorder(db_url) as rec:
        weather = rec.attach(sg.retrying_workflow())
        assert weather.invoke("Oslo", {"configurable": {"thread_id": "ok"}}) == "SUNNY IN OSLO"
        with pytest.raises(ValueError, match="cannot shout boom"):
            weather.invoke("boom", {"configurable": {"thread_id": "boom"}})
    (ok,) = thread_runs(db_url, "ok")
    fetches = [e for e in node_events(db_url, ok["run_id"]) if e["node"] == "fetch"]
    assert [(e["kind"], e["payload"]["attempt"]) for e in fetches] == [
        ("node_start", 1),
        ("node_error", 1),
        ("node_start", 2),
        ("node_end", 2),
    ]
    assert fetches[1]["payload"]["error"]["type"] == "TimeoutError"
    (boom,) = thread_runs(db_url, "boom")
    assert boom["status"] == "failed"
    (err,) = [e for e in node_events(db_url, boom["run_id"]) if e["kind"] == "node_error"
              and e["node"] == "shout"]  # fmt: skip
    assert err["payload"]["error"]["message"] == "cannot shout boom"
    code, data = lgaudit(db_url, "audit", boom["run_id"])
    assert code == 1 and [f["rule"] for f in data["findings"]] == ["run.error"]
    # a fault injected at a task's first attempt is recovered by its retry policy
    res = replay(ok["run_id"], graph="shape_graphs:retrying_workflow", url=db_url,
                 faults=["fetch:TimeoutError@1"])  # fmt: skip
    assert (res.status, res.faults_injected) == ("succeeded", 1), res.error
    fetches = [e for e in node_events(db_url, res.run_id) if e["node"] == "fetch"]
    assert [(e["kind"], e["payload"]["attempt"]) for e in fetches] == [
        ("node_start", 1),
        ("node_error", 1),
        ("node_start", 2),
        ("node_end", 2),
    ]
    assert fetches[1]["payload"]["error"]["injected"] is True


def test_functional_replay_diff_blame_and_audit(db_url: str, tmp_path) -> None:
    _, (asked, approved) = record_essay(db_url, "yes", "approve")
    _, (_, rejected) = record_essay(db_url, "no", "reject")
    # a strict replay of each run serves the model's answer from the recording: identical
    for run, status in ((asked, "interrupted"), (approved, "succeeded")):
        res = replay(run, graph="shape_graphs:essay_workflow", url=db_url)
        assert (res.status, res.live_calls) == (status, 0), res.error
        _, shown = lgaudit(db_url, "show", res.run_id)
        served = [e["payload"]["served_by"] for e in shown["events"] if e["kind"] == "llm_end"]
        assert served == (["cassette"] if run == asked else [])
        assert first_divergence(db_url, run, res.run_id) == (0, None)
        assert first_divergence(db_url, res.run_id, run) == (0, None)
    # the human's answers differ first, at the review task; then what was published
    code, div = first_divergence(db_url, approved, rejected)
    assert code == 1
    assert (div["kind"], div["node"], div["path"]) == ("approval", "review", "resumes[0]")
    assert (div["a"], div["b"]) == ("approve", "reject")
    _, data = lgaudit(db_url, "diff", approved, rejected)
    returned = sorted(
        (d["node"], d["path"], d["a"], d["b"])
        for s in data["steps"]
        for d in s["differences"]
        if d["path"].startswith("return")
    )
    assert returned == [
        ("essay_flow", "return[0].approved", True, False),
        ("essay_flow", "return[0].published", "published: Cats sleep a lot.", None),
        ("review", "return[0].approved", True, False),
    ]
    # blame: which task returned what
    _, entries = lgaudit(db_url, "blame", approved, "__return__")
    assert [e["node"] for e in entries] == ["write_essay", "review", "publish"]
    # audit: the publish task ran after an approving resume at the review task
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    code, data = lgaudit(db_url, "audit", "--thread", "yes", "--policy", str(policy))
    assert (code, data["findings"]) == (0, [])
    code, data = lgaudit(db_url, "audit", "--thread", "no", "--policy", str(policy))
    assert (code, data["findings"]) == (0, [])  # rejected: nothing was published
    # an entrypoint that publishes without asking is a bypass of the review
    with Recorder(db_url) as rec:
        flow = rec.attach(sg.essay_workflow(skip_review=True))
        assert flow.invoke("cats", {"configurable": {"thread_id": "unreviewed"}})["published"]
    code, data = lgaudit(db_url, "audit", "--thread", "unreviewed", "--policy", str(policy))
    assert code == 1
    assert [(f["rule"], f["node"]) for f in data["findings"]] == [("approval.bypass", "publish")]


async def test_async_functional_workflow_is_recorded_and_replays_identically(db_url: str) -> None:
    config = {"configurable": {"thread_id": "async-essay"}}
    with Recorder(db_url) as rec:
        flow = rec.attach(sg.async_essay_workflow())
        assert "__interrupt__" in await flow.ainvoke("cats", config)
        chunks = [c async for c in flow.astream(Command(resume="approve"), config)]
        assert chunks[-1] == {"async_essay_flow": {"essay": "Cats sleep a lot.", "approved": True}}
    runs = thread_runs(db_url, "async-essay")
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"]
    starts = [
        [e["node"] for e in node_events(db_url, r["run_id"]) if e["kind"] == "node_start"]
        for r in runs
    ]
    assert starts == [["async_essay_flow", "write_essay", "review"], ["async_essay_flow", "review"]]
    for run in runs:
        res = await asyncio.to_thread(
            replay, run["run_id"], graph="shape_graphs:async_essay_workflow", url=db_url
        )
        assert (res.status, res.live_calls) == (run["status"], 0), res.error
        assert first_divergence(db_url, run["run_id"], res.run_id) == (0, None)


def test_functional_time_travel_asks_the_human_again(db_url: str) -> None:
    """Back to the entrypoint's input checkpoint: the workflow runs again, the review task
    asks again, and the second approval's run is identical to the first's."""
    config = {"configurable": {"thread_id": "again"}}
    with Recorder(db_url) as rec:
        flow = rec.attach(sg.essay_workflow())
        flow.invoke("cats", config)
        flow.invoke(Command(resume="approve"), config)
        start = next(s for s in flow.get_state_history(config) if s.next == ("essay_flow",))
        assert "__interrupt__" in flow.invoke(None, start.config)
        assert flow.invoke(Command(resume="approve"), config)["published"]
    runs = thread_runs(db_url, "again")
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"] * 2
    asked, approved, asked_again, approved_again = (r["run_id"] for r in runs)
    assert first_divergence(db_url, asked, asked_again) == (0, None)
    assert first_divergence(db_url, approved_again, approved) == (0, None)
    code, found = lgaudit(db_url, "audit", "--thread", "again")
    assert (code, found["findings"]) == (0, [])


# -- time travel through a human's decision --------------------------------------------------

REVIEW_POLICY = """
[approval]
gates = ["human_review"]
protected = ["send"]
approve = ["approve"]
"""


def test_time_travel_back_before_a_human_decision(db_url: str, tmp_path) -> None:
    """Re-running from before the review asks the human again; the branch's answers are
    compared with the original's from that checkpoint, runs continuing each branch too."""
    config = {"configurable": {"thread_id": "refund"}}
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.review_graph())
        graph.invoke({"request": "refund"}, config)
        assert graph.invoke(Command(resume="approve"), config)["sent"]
        before = next(s for s in graph.get_state_history(config) if s.next == ("human_review",))
        assert "__interrupt__" in graph.invoke(None, before.config)  # asked again
        assert graph.invoke(Command(resume="approve"), config)["sent"]
        graph.invoke(None, before.config)
        assert "sent" not in graph.invoke(Command(resume="reject"), config)
    runs = thread_runs(db_url, "refund")
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"] * 3
    asked, approved, asked_again, approved_again, asked_third, rejected = (
        r["run_id"] for r in runs
    )
    assert first_divergence(db_url, asked, asked_again) == (0, None)
    assert first_divergence(db_url, asked_again, asked) == (0, None)
    assert first_divergence(db_url, approved, approved_again) == (0, None)
    assert first_divergence(db_url, approved_again, approved) == (0, None)
    code, div = first_divergence(db_url, approved, rejected)
    assert code == 1
    assert (div["step"], div["node"], div["kind"], div["path"]) == (
        2,
        "human_review",
        "approval",
        "resumes[0]",
    )
    assert (div["a"], div["b"]) == ("approve", "reject")
    # each branch's send was approved on that branch: no finding, no answer re-used
    policy = tmp_path / "policy.toml"
    policy.write_text(REVIEW_POLICY)
    code, data = lgaudit(db_url, "audit", "--thread", "refund", "--policy", str(policy))
    assert (code, data["findings"]) == (0, [])


# -- the shapes of LangGraph's docs: replayed and re-executed, identical --------------------

SHAPES = {
    "chat_graph": lambda: {"messages": [HumanMessage("hi")]},
    "supervisor_graph": lambda: {"messages": [HumanMessage("write a report")], "done": []},
    "map_reduce_graph": lambda: {"subjects": ["cats", "dogs", "owls"], "jokes": []},
    "pydantic_graph": lambda: sg.Counter2(),
    "dataclass_graph": lambda: sg.Counter3(),
    "own_schema_subgraph_graph": lambda: {"question": "how are you today"},
    "shared_key_subgraph_graph": lambda: {"topic": "owls"},
    "handoff_graph": lambda: {"messages": [HumanMessage("refund please")]},
    "async_chat_graph": lambda: {"messages": [HumanMessage("hi")]},
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_each_shape_replays_and_re_executes_identically(db_url: str, shape: str) -> None:
    config = {"configurable": {"thread_id": shape}}
    with Recorder(db_url) as rec:
        graph = rec.attach(getattr(sg, shape)())
        if shape.startswith("async"):
            out = await graph.ainvoke(SHAPES[shape](), config)
            chunks = [c async for c in graph.astream({"messages": [HumanMessage("more")]}, config)]
            assert chunks
            states = [s async for s in graph.aget_state_history(config)]
        else:
            out = graph.invoke(SHAPES[shape](), config)
            states = list(graph.get_state_history(config))
        # back to the first step's checkpoint, re-executed unchanged
        old = min((s for s in states if s.next), key=lambda s: s.metadata["step"])
        if shape.startswith("async"):
            again = await graph.ainvoke(None, old.config)
        else:
            again = graph.invoke(None, old.config)
    assert out and again
    runs = thread_runs(db_url, shape)
    assert all(r["status"] == "succeeded" for r in runs)
    *recorded, re_executed = (r["run_id"] for r in runs)
    for run in recorded:
        res = await asyncio.to_thread(replay, run, graph=f"shape_graphs:{shape}", url=db_url)
        assert (res.status, res.live_calls) == ("succeeded", 0), res.error
        assert first_divergence(db_url, run, res.run_id) == (0, None)
        assert first_divergence(db_url, res.run_id, run) == (0, None)
    assert first_divergence(db_url, recorded[0], re_executed) == (0, None)
    assert first_divergence(db_url, re_executed, recorded[0]) == (0, None)


def test_a_forked_chat_differs_by_the_edited_message(db_url: str) -> None:
    """``update_state`` on a ``MessagesState`` thread: the new human message is the first
    divergence, and the model's answer to it follows."""
    config = {"configurable": {"thread_id": "chat"}}
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.chat_graph())
        graph.invoke({"messages": [HumanMessage("hi")]}, config)
        first = list(graph.get_state_history(config))[-2]  # after the input, before chatbot
        assert first.next == ("chatbot",)
        edited = graph.update_state(first.config, {"messages": [HumanMessage("bye")]})
        forked = graph.invoke(None, edited)
    assert [m.content for m in forked["messages"]] == ["hi", "bye", "Happy to help."]
    original, _update, fork = (r["run_id"] for r in thread_runs(db_url, "chat"))
    code, div = first_divergence(db_url, original, fork)
    # the fork step's state: the original's messages are matched by id, the new one not
    assert (code, div["step"], div["kind"], div["path"]) == (1, 0, "state", "state.messages[#0]")
    assert div["a"] is None and div["b"]["content"] == "bye"


def test_a_resume_replayed_keeps_what_a_parallel_branch_saved(db_url: str) -> None:
    """The resume ran only the human's branch (LangGraph kept the forecast's writes): its
    replay does the same, so the forecast's model is not asked for a call never made."""
    config = {"configurable": {"thread_id": "trip"}}
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.parallel_review_graph())
        graph.invoke({"city": "Oslo"}, config)
        assert graph.invoke(Command(resume="approve"), config)["booked"] == "Oslo: Sunny all week."
    asked, approved = (r["run_id"] for r in thread_runs(db_url, "trip"))
    sg.CALLS.clear()
    res = replay(approved, graph="shape_graphs:parallel_review_graph", url=db_url)
    assert (res.status, res.live_calls, sg.CALLS["forecast"]) == ("succeeded", 0, 0), res.error
    assert first_divergence(db_url, approved, res.run_id) == (0, None)
    _, shown = lgaudit(db_url, "show", res.run_id)
    starts = [e["node"] for e in shown["events"] if e["kind"] == "node_start"]
    assert starts == ["approve", "book"]
