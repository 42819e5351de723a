"""The recorder on every graph shape users build, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import operator
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.channels.delta import DeltaChannel
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, RetryPolicy, Send, interrupt
from pydantic import BaseModel

from lgaudit import EVENT_KINDS, Recorder, audit
from lgaudit.demo import AGENT_INPUT, STAGING_INPUT, agent, scripted_model, staging


@pytest.fixture
def recorder(db_url: str):
    rec = Recorder(db_url, environment="test")
    yield rec
    rec.close()


def cfg(thread: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, **extra}


def runs_of(rec: Recorder, thread: str) -> list[dict[str, Any]]:
    rec.flush()
    return list(reversed(rec.store.runs(thread_id=thread, limit=None)))


def checked_events(rec: Recorder, run_id: str) -> list[dict[str, Any]]:
    """A run's events, after checking what every run must satisfy."""
    events = rec.store.events(run_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["kind"] == "run_start"
    assert events[-1]["kind"] in ("run_end", "run_error")
    assert {e["kind"] for e in events} <= set(EVENT_KINDS)
    return events


def kinds(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == kind]


def test_seed_staging_graph_is_recorded(recorder: Recorder) -> None:
    graph = recorder.attach(staging())
    result = graph.invoke(dict(STAGING_INPUT), cfg("seed"))
    assert result["approved"] is True
    (run,) = runs_of(recorder, "seed")
    assert run["status"] == "succeeded" and run["environment"] == "test"
    assert run["graph"] == "staging_demo"
    events = checked_events(recorder, run["run_id"])
    nodes = [e["node"] for e in kinds(events, "node_start")]
    assert nodes == ["plan", "execute", "review", "plan", "execute", "review"]
    assert [e["step"] for e in kinds(events, "node_start")] == [1, 2, 3, 4, 5, 6]
    checkpoints = kinds(events, "checkpoint")
    assert [c["step"] for c in checkpoints] == list(range(-1, 7))
    assert all(e["task_id"] for e in kinds(events, "node_end"))
    writes = kinds(events, "writes")
    assert {w["node"] for w in writes if w["node"]} == {"plan", "execute", "review"}
    # checkpoint events carry the state values, readable through show
    shown = recorder.store.show(run["run_id"])
    last = [e for e in shown["events"] if e["kind"] == "checkpoint"][-1]
    assert last["payload"]["values"]["output"] == "Processed: Quarterly financial report (step 2)"
    assert recorder.store.verify()["ok"]


class PState(BaseModel):
    count: int = 0
    log: list[str] = []


@dataclass
class DState:
    count: int = 0
    log: list[str] = field(default_factory=list)


@pytest.mark.parametrize("schema", [PState, DState], ids=["pydantic", "dataclass"])
def test_pydantic_and_dataclass_state(recorder: Recorder, schema: type) -> None:
    def inc(state: Any) -> dict[str, Any]:
        return {"count": state.count + 1, "log": [*state.log, f"inc{state.count}"]}

    builder = StateGraph(schema)
    builder.add_node("inc", inc)
    builder.add_node("again", inc)
    builder.add_edge(START, "inc")
    builder.add_edge("inc", "again")
    graph = recorder.attach(builder.compile())
    out = graph.invoke(schema(), cfg("typed"))
    assert out["count"] == 2
    # the recording checkpointer serves the typed state back (allowlisted, not pickled)
    snapshot = graph.get_state(cfg("typed"))
    assert snapshot.values["log"] == ["inc0", "inc1"]
    (run,) = runs_of(recorder, "typed")
    events = checked_events(recorder, run["run_id"])
    assert [e["node"] for e in kinds(events, "node_end")] == ["inc", "again"]


@tool
def lookup(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


def tool_calling_model():
    return scripted_model(
        [
            AIMessage(
                "",
                tool_calls=[{"name": "lookup", "args": {"city": "Oslo"}, "id": "c1"}],
                usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
            ),
            AIMessage(
                "It is sunny in Oslo.",
                usage_metadata={"input_tokens": 20, "output_tokens": 7, "total_tokens": 27},
            ),
        ],
        model="gpt-4o-fake",
    )


def test_tool_node_agent_records_llm_and_tool_calls(recorder: Recorder) -> None:
    model = tool_calling_model().bind_tools([lookup])

    def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", call)
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    graph = recorder.attach(builder.compile())
    graph.invoke({"messages": [HumanMessage("weather in Oslo?")]}, cfg("agent"))
    (run,) = runs_of(recorder, "agent")
    assert run["tokens"] == 42
    shown = recorder.store.show(run["run_id"])["events"]
    llm_end = [e for e in shown if e["kind"] == "llm_end"]
    assert [e["model"] for e in llm_end] == ["gpt-4o-fake", "gpt-4o-fake"]
    assert llm_end[0]["usage"] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert all(e["node"] == "agent" and e["task_id"] for e in llm_end)
    tool_start = [e for e in shown if e["kind"] == "tool_start"]
    assert [e["tool"] for e in tool_start] == ["lookup"]
    assert tool_start[0]["payload"]["input"] == {"city": "Oslo"}
    tool_end = [e for e in shown if e["kind"] == "tool_end"]
    assert "sunny in Oslo" in str(tool_end[0]["payload"]["output"])
    llm_start = [e for e in shown if e["kind"] == "llm_start"]
    assert llm_start[0]["payload"]["messages"][0]["content"] == "weather in Oslo?"
    # an update of a node with a routing function: one run, started and ended once
    graph.update_state(cfg("agent"), {"messages": [HumanMessage("and Bergen?")]})
    update = runs_of(recorder, "agent")[-1]
    kinds_of_update = [e["kind"] for e in checked_events(recorder, update["run_id"])]
    assert kinds_of_update == ["run_start", "state_update", "writes", "checkpoint", "run_end"]


def test_create_agent_from_langchain(recorder: Recorder) -> None:
    from langchain.agents import create_agent

    graph = recorder.attach(create_agent(tool_calling_model(), tools=[lookup]))
    out = graph.invoke({"messages": [HumanMessage("weather?")]}, cfg("lc-agent"))
    assert out["messages"][-1].content == "It is sunny in Oslo."
    (run,) = runs_of(recorder, "lc-agent")
    events = checked_events(recorder, run["run_id"])
    assert len(kinds(events, "llm_end")) == 2 and len(kinds(events, "tool_end")) == 1
    assert run["status"] == "succeeded"


class SubState(TypedDict):
    items: Annotated[list[str], operator.add]


def _subgraph():
    sub = StateGraph(SubState)
    sub.add_node("inner_a", lambda s: {"items": ["a"]})
    sub.add_node("inner_b", lambda s: {"items": ["b"]})
    sub.add_edge(START, "inner_a")
    sub.add_edge("inner_a", "inner_b")
    return sub.compile()


def test_subgraph_as_node_and_inside_node(recorder: Recorder) -> None:
    compiled_sub = _subgraph()

    def calls_sub(state: SubState) -> dict[str, Any]:
        return {"items": compiled_sub.invoke({"items": []})["items"]}

    builder = StateGraph(SubState)
    builder.add_node("sub", compiled_sub)
    builder.add_node("calls_sub", calls_sub)
    builder.add_edge(START, "sub")
    builder.add_edge("sub", "calls_sub")
    graph = recorder.attach(builder.compile())
    out = graph.invoke({"items": []}, cfg("subgraphs"))
    assert out["items"] == ["a", "b", "a", "b"]
    (run,) = runs_of(recorder, "subgraphs")
    events = checked_events(recorder, run["run_id"])
    inner = [e for e in kinds(events, "node_start") if e["node"] in ("inner_a", "inner_b")]
    assert len(inner) == 4
    as_node = [e for e in inner if e["checkpoint_ns"].startswith("sub:")]
    assert [e["node"] for e in as_node] == ["inner_a", "inner_b"]
    nested_checkpoints = [c for c in kinds(events, "checkpoint") if c["checkpoint_ns"]]
    prefixes = {c["checkpoint_ns"].split(":")[0] for c in nested_checkpoints}
    assert prefixes == {"sub", "calls_sub"}  # each subgraph checkpoints under its own ns
    assert all(e["run_id"] == run["run_id"] for e in events)
    assert len(runs_of(recorder, "subgraphs")) == 1
    # the same with a subgraph that was itself attached: still one run, of the outer graph
    recorded_sub = recorder.attach(_subgraph())

    def calls_recorded(state: SubState) -> dict[str, Any]:
        return {"items": recorded_sub.invoke({"items": []})["items"]}

    builder = StateGraph(SubState)
    builder.add_node("calls_recorded", calls_recorded)
    builder.add_edge(START, "calls_recorded")
    recorder.attach(builder.compile()).invoke({"items": []}, cfg("attached-inside"))
    recorder.flush()
    assert [r["thread_id"] for r in recorder.store.runs(limit=None)].count(None) == 0
    (run,) = runs_of(recorder, "attached-inside")
    events = checked_events(recorder, run["run_id"])
    nested = [e["node"] for e in kinds(events, "node_start") if e["checkpoint_ns"]]
    assert nested == ["inner_a", "inner_b"]


def test_a_recorded_graph_configured_again_is_still_recorded(recorder: Recorder) -> None:
    graph = recorder.attach(_subgraph()).with_config(recursion_limit=10, tags=["configured"])
    assert graph.invoke({"items": []}, cfg("configured")) == {"items": ["a", "b"]}
    (run,) = runs_of(recorder, "configured")
    assert run["status"] == "succeeded"
    assert [e["node"] for e in kinds(checked_events(recorder, run["run_id"]), "node_end")] == [
        "inner_a",
        "inner_b",
    ]


class FanState(TypedDict):
    topics: list[str]
    results: Annotated[list[str], operator.add]


def test_send_fan_out_and_parallel_branches(recorder: Recorder) -> None:
    builder = StateGraph(FanState)
    builder.add_node("research", lambda s: {"results": [f"r:{s['topic']}"]})
    builder.add_node("left", lambda s: {"results": ["left"]})
    builder.add_node("right", lambda s: {"results": ["right"]})
    builder.add_conditional_edges(
        START, lambda s: [Send("research", {"topic": t}) for t in s["topics"]], ["research"]
    )
    builder.add_edge("research", "left")
    builder.add_edge("research", "right")
    graph = recorder.attach(builder.compile())
    out = graph.invoke({"topics": ["x", "y", "z"], "results": []}, cfg("fan"))
    assert sorted(out["results"]) == ["left", "r:x", "r:y", "r:z", "right"]
    (run,) = runs_of(recorder, "fan")
    events = checked_events(recorder, run["run_id"])
    research = [e for e in kinds(events, "node_start") if e["node"] == "research"]
    assert len(research) == 3 and len({e["task_id"] for e in research}) == 3
    assert {e["step"] for e in research} == {1}
    branches = [e for e in kinds(events, "node_end") if e["node"] in ("left", "right")]
    assert len(branches) == 2 and len({e["step"] for e in branches}) == 1


def test_retry_policy_records_each_attempt(recorder: Recorder) -> None:
    attempts = {"n": 0}

    def flaky(state: SubState) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise TimeoutError("upstream timed out")
        return {"items": ["ok"]}

    builder = StateGraph(SubState)
    builder.add_node(
        "flaky",
        flaky,
        retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, retry_on=TimeoutError),
    )
    builder.add_edge(START, "flaky")
    graph = recorder.attach(builder.compile())
    assert graph.invoke({"items": []}, cfg("retry"))["items"] == ["ok"]
    (run,) = runs_of(recorder, "retry")
    events = checked_events(recorder, run["run_id"])
    (error,) = kinds(events, "node_error")
    assert error["payload"]["attempt"] == 1
    assert error["payload"]["error"]["type"] == "TimeoutError"
    (end,) = kinds(events, "node_end")
    assert end["payload"]["attempt"] == 2 and end["task_id"] == error["task_id"]
    assert run["status"] == "succeeded"


def test_failed_run_is_recorded_as_failed(recorder: Recorder) -> None:
    def boom(state: SubState) -> dict[str, Any]:
        raise ValueError("bad ledger")

    builder = StateGraph(SubState)
    builder.add_node("boom", boom)
    builder.add_edge(START, "boom")
    graph = recorder.attach(builder.compile())
    with pytest.raises(ValueError):
        graph.invoke({"items": []}, cfg("fail"))
    (run,) = runs_of(recorder, "fail")
    assert run["status"] == "failed" and run["ended_at"]
    events = checked_events(recorder, run["run_id"])
    assert events[-1]["kind"] == "run_error"
    assert events[-1]["payload"]["error"]["message"] == "bad ledger"
    assert kinds(events, "node_error")[0]["node"] == "boom"


def test_interrupt_resume_and_update_state(recorder: Recorder) -> None:
    graph = recorder.attach(agent())
    config = cfg("approval")
    first = graph.invoke(dict(AGENT_INPUT), config)
    assert "__interrupt__" in first
    graph.invoke(Command(resume="approve"), config)
    graph.update_state(config, {"approved": False}, as_node="human_review")
    runs = runs_of(recorder, "approval")
    assert [r["status"] for r in runs] == ["interrupted", "succeeded", "succeeded"]
    interrupted = checked_events(recorder, runs[0]["run_id"])
    (intr,) = kinds(interrupted, "interrupt")
    assert intr["node"] == "human_review" and intr["payload"]["value"]["action"] == "send_email"
    resumed = checked_events(recorder, runs[1]["run_id"])
    (resume,) = kinds(resumed, "resume")
    assert resume["payload"]["value"] == "approve"
    assert [
        e["tool"]
        for e in recorder.store.show(runs[1]["run_id"])["events"]
        if e["kind"] == "tool_end"
    ] == ["send_email"]
    update = checked_events(recorder, runs[2]["run_id"])
    (su,) = kinds(update, "state_update")
    assert su["payload"] == {
        "values": {"approved": False},
        "as_node": "human_review",
        "task_id": None,
    }
    assert kinds(update, "checkpoint")[0]["payload"]["source"] == "update"


async def test_async_graph(recorder: Recorder) -> None:
    async def step(state: SubState) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"items": ["async"]}

    builder = StateGraph(SubState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    graph = recorder.attach(builder.compile())
    assert (await graph.ainvoke({"items": []}, cfg("async")))["items"] == ["async"]
    chunks = [c async for c in graph.astream({"items": []}, cfg("async"))]
    assert chunks
    runs = runs_of(recorder, "async")
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    for r in runs:
        assert kinds(checked_events(recorder, r["run_id"]), "node_end")


@pytest.mark.parametrize(
    "mode", ["values", "updates", "messages", "custom", "debug", "tasks", "checkpoints"]
)
def test_every_stream_mode_is_one_run(recorder: Recorder, mode: str) -> None:
    graph = recorder.attach(agent())
    config = cfg(f"stream-{mode}")
    assert list(graph.stream(dict(AGENT_INPUT), config, stream_mode=mode)) or mode == "custom"
    list(graph.stream(Command(resume="yes"), config, stream_mode=[mode, "updates"]))
    runs = runs_of(recorder, f"stream-{mode}")
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"]
    for r in runs:
        checked_events(recorder, r["run_id"])


def test_batch_items_are_runs_and_custom_events(recorder: Recorder) -> None:
    def emit(state: SubState) -> dict[str, Any]:
        dispatch_custom_event("progress", {"done": len(state["items"])})
        return {"items": ["x"]}

    builder = StateGraph(SubState)
    builder.add_node("emit", emit)
    builder.add_edge(START, "emit")
    graph = recorder.attach(builder.compile())
    graph.batch([{"items": []}, {"items": ["a"]}], [cfg("batch-1"), cfg("batch-2")])
    for thread in ("batch-1", "batch-2"):
        (run,) = runs_of(recorder, thread)
        (custom,) = kinds(checked_events(recorder, run["run_id"]), "custom")
        assert custom["payload"]["name"] == "progress" and custom["node"] == "emit"


def test_stream_writer_data_is_recorded_whether_streamed_or_not(recorder: Recorder) -> None:
    """``get_stream_writer()`` data is a ``custom`` event of the node that wrote it, in a
    subgraph too, whether or not the caller streams the ``custom`` mode, sync or async;
    what the caller streams is unchanged."""

    def inner(state: SubState) -> dict[str, Any]:
        get_stream_writer()({"inner": len(state["items"])})
        return {"items": ["i"]}

    sub = StateGraph(SubState)
    sub.add_node("inner", inner)
    sub.add_edge(START, "inner")

    def outer(state: SubState) -> dict[str, Any]:
        get_stream_writer()("outer says hi")
        return {"items": ["o"]}

    builder = StateGraph(SubState)
    builder.add_node("outer", outer)
    builder.add_node("sub", sub.compile())
    builder.add_edge(START, "outer")
    builder.add_edge("outer", "sub")
    graph = recorder.attach(builder.compile())
    plain = builder.compile()
    for mode in ("values", ["updates", "custom"], "custom"):
        expected = list(plain.stream({"items": []}, stream_mode=mode))
        assert list(graph.stream({"items": []}, cfg(f"w-{mode}"), stream_mode=mode)) == expected
    assert graph.invoke({"items": []}, cfg("w-invoke")) == plain.invoke({"items": []})
    asyncio.run(graph.ainvoke({"items": []}, cfg("w-async")))
    for thread in ("w-values", "w-['updates', 'custom']", "w-custom", "w-invoke", "w-async"):
        (run,) = runs_of(recorder, thread)
        customs = kinds(checked_events(recorder, run["run_id"]), "custom")
        assert [(e["node"], e["payload"]["data"]) for e in customs] == [
            ("outer", "outer says hi"),
            ("inner", {"inner": 1}),
        ], thread
        assert customs[1]["checkpoint_ns"].startswith("sub:") and customs[1]["task_id"]


def test_one_recorder_shared_by_many_threads(recorder: Recorder) -> None:
    graph = recorder.attach(staging())
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                graph.invoke(dict(STAGING_INPUT), cfg(f"mt-{i}-{j}"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    recorder.flush()
    runs = recorder.store.runs(limit=None)
    assert len(runs) == 40 and {r["status"] for r in runs} == {"succeeded"}
    assert len({r["event_count"] for r in runs}) == 1
    for r in runs[:5]:
        checked_events(recorder, r["run_id"])
    assert recorder.store.verify()["ok"]


def test_graph_with_its_own_checkpointer_is_teed(recorder: Recorder) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    own = InMemorySaver()
    graph = recorder.attach(staging_with(own))
    graph.invoke(dict(STAGING_INPUT), cfg("teed"))
    assert own.get_tuple(cfg("teed")) is not None  # the user's checkpointer still holds state
    (run,) = runs_of(recorder, "teed")
    events = checked_events(recorder, run["run_id"])
    assert len(kinds(events, "checkpoint")) == 8


def test_checkpointer_and_callback_given_by_hand_record_whole_runs(recorder: Recorder) -> None:
    """Without ``attach``: a graph compiled with ``recorder.checkpointer`` (or with its own
    checkpointer teed through ``RecordingSaver``) and run with ``recorder.callback`` in its
    config records whole runs, its checkpoints inside them; an interrupt and its resume
    are two runs of the thread."""
    from langgraph.checkpoint.memory import InMemorySaver

    from lgaudit import RecordingSaver

    own = InMemorySaver()
    for name, saver in (("audit", recorder.checkpointer), ("teed", RecordingSaver(own, recorder))):
        graph = staging_with(saver)
        graph.invoke(dict(STAGING_INPUT), {**cfg(name), "callbacks": [recorder.callback]})
        (run,) = runs_of(recorder, name)
        assert run["status"] == "succeeded" and run["graph"], run
        events = checked_events(recorder, run["run_id"])
        assert events[-1]["kind"] == "run_end"
        assert len(kinds(events, "checkpoint")) == 8 and kinds(events, "node_start")
    assert own.get_tuple(cfg("teed")) is not None
    # the demo's approval-gated agent: interrupted, then resumed
    from lgaudit.demo import AGENT_INPUT, agent_builder

    graph = agent_builder().compile(checkpointer=recorder.checkpointer)
    by_hand = {**cfg("by-hand"), "callbacks": [recorder.callback]}
    graph.invoke(dict(AGENT_INPUT), by_hand)
    graph.invoke(Command(resume="approve"), by_hand)
    first, resumed = runs_of(recorder, "by-hand")
    assert (first["status"], resumed["status"]) == ("interrupted", "succeeded")
    assert kinds(checked_events(recorder, resumed["run_id"]), "resume")


def staging_with(checkpointer: Any) -> Any:
    from lgaudit.demo import staging_builder

    return staging_builder().compile(checkpointer=checkpointer)


class Mutable(TypedDict, total=False):
    items: list[str]
    n: int


@dataclass
class MutableData:
    items: list[str] = field(default_factory=list)
    n: int = 0


def mutating_graph(schema: Any = Mutable) -> Any:
    """first writes ``items``; ``mutate`` appends to it in place and writes only ``n``."""

    def mutate(state: Any) -> dict[str, Any]:
        (state["items"] if isinstance(state, dict) else state.items).append("sneaky")
        return {"n": 1}

    builder = StateGraph(schema)
    builder.add_node("first", lambda s: {"items": ["x"]})
    builder.add_node("mutate", mutate)
    builder.add_node("last", lambda s: {"n": 2})
    builder.add_edge(START, "first")
    builder.add_edge("first", "mutate")
    builder.add_edge("mutate", "last")
    return builder.compile()


def test_each_checkpoint_holds_the_state_of_its_step(recorder: Recorder) -> None:
    """A node that mutates its input in place does not change the recorded checkpoint of
    the step before it. With LangGraph's default, ``durability="async"``, that checkpoint
    is saved from a background thread while the next step runs (LangGraph's own savers
    then store the mutated value); the recorder stores the values the next step's nodes
    read, recorded before they ran. Every durability a caller chooses gives the same."""
    graph = recorder.attach(mutating_graph())
    for durability in (None, "async", "sync"):
        for n in range(3):
            thread = f"{durability}-{n}"
            graph.invoke({}, cfg(thread), durability=durability)
            history = {s.metadata["step"]: s.values for s in graph.get_state_history(cfg(thread))}
            assert history[1]["items"] == ["x"], (durability, history)
            assert "lgaudit_run_id" not in graph.get_state(cfg(thread)).metadata
    dataclass_graph = recorder.attach(mutating_graph(MutableData))  # fields, not keys
    for n in range(3):
        dataclass_graph.invoke(MutableData(), cfg(f"dataclass-{n}"))
        history = {
            s.metadata["step"]: s.values
            for s in dataclass_graph.get_state_history(cfg(f"dataclass-{n}"))
        }
        assert history[1]["items"] == ["x"], history
    for durability in (None, "sync"):  # the audit finds the mutation where it happened
        for n in range(3):
            (run,) = runs_of(recorder, f"{durability}-{n}")
            found = audit(recorder.store, [run["run_id"]]).findings
            assert [(f.rule, f.channel, f.step) for f in found] == [
                ("state.unexplained_change", "items", 3)
            ], (durability, [f.message for f in found])
            assert "mutate" in found[0].message
    (run,) = runs_of(recorder, "None-0")
    checked_events(recorder, run["run_id"])
    cps = kinds(recorder.store.show(run["run_id"])["events"], "checkpoint")
    assert [cp["payload"]["values"].get("items") for cp in cps if cp["step"] == 1] == [["x"]]
    graph.invoke({}, cfg("exit"), durability="exit")  # the caller's choice: one checkpoint
    (run,) = runs_of(recorder, "exit")
    assert len(kinds(checked_events(recorder, run["run_id"]), "checkpoint")) == 1


def test_delete_thread_is_a_complete_run_and_keeps_the_history(recorder: Recorder) -> None:
    graph = recorder.attach(_subgraph())
    graph.invoke({"items": []}, cfg("gone"))
    recorder.checkpointer.delete_thread("gone")
    assert graph.get_state(cfg("gone")).values == {}  # hidden from the checkpointer view
    first, deletion = runs_of(recorder, "gone")
    assert deletion["status"] == "succeeded" and first["status"] == "succeeded"
    kinds_of = [e["kind"] for e in checked_events(recorder, deletion["run_id"])]
    assert kinds_of == ["run_start", "delete", "run_end"]
    assert kinds(checked_events(recorder, first["run_id"]), "checkpoint")  # history kept
    assert recorder.store.verify()["ok"]


def test_an_interrupt_inside_a_subgraph_is_recorded_once(recorder: Recorder) -> None:
    """LangGraph writes a subgraph's interrupt in the subgraph and again in each graph
    around it: the run records one ``interrupt``, where it was raised."""

    def ask(state: SubState) -> dict[str, Any]:
        return {"items": [interrupt("approve?")]}

    sub = StateGraph(SubState)
    sub.add_node("ask", ask)
    sub.add_edge(START, "ask")
    builder = StateGraph(SubState)
    builder.add_node("sub", sub.compile())
    builder.add_edge(START, "sub")
    graph = recorder.attach(builder.compile())
    graph.invoke({"items": []}, cfg("nested-ask"))
    graph.invoke(Command(resume="yes"), cfg("nested-ask"))
    first, resumed = runs_of(recorder, "nested-ask")
    assert first["status"] == "interrupted" and resumed["status"] == "succeeded"
    (asked,) = kinds(checked_events(recorder, first["run_id"]), "interrupt")
    assert asked["node"] == "ask" and asked["checkpoint_ns"].startswith("sub:")
    assert asked["payload"]["value"] == "approve?"
    assert not kinds(checked_events(recorder, resumed["run_id"]), "interrupt")


def _extend(state: list[str] | None, writes: list[list[str]]) -> list[str]:
    return [*(state or []), *(x for w in writes for x in w)]


def test_a_delta_channel_thread_continues_in_another_recorder(recorder: Recorder) -> None:
    """LangGraph's ``DeltaChannel`` (beta) stores snapshots or nothing, not its value: the
    recorded thread still reads back whole, here and from a recorder of its own."""

    class Deltas(TypedDict, total=False):
        items: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=3)]
        n: int

    builder = StateGraph(Deltas)
    builder.add_node("a", lambda s: {"items": ["a"], "n": 1})
    builder.add_node("b", lambda s: {"items": ["b"], "n": 2})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    graph = recorder.attach(builder.compile())
    for i in range(4):
        graph.invoke({"items": [f"in{i}"]}, cfg("deltas"))
    expected = [x for i in range(4) for x in (f"in{i}", "a", "b")]
    assert graph.get_state(cfg("deltas")).values["items"] == expected
    recorder.flush()
    with Recorder(recorder.url) as other:
        again = other.attach(builder.compile())
        assert again.get_state(cfg("deltas")).values["items"] == expected
        assert again.invoke({"items": ["x"]}, cfg("deltas"))["items"] == [*expected, "x", "a", "b"]
