"""A recorder that lives as long as a server: what it remembers per run, thread, task and
checkpoint is released when the run ends, on every path a run can take (issue 28).

Each test runs one path many times in one process on one ``Recorder`` and compares the
recorder's own bookkeeping (``Recorder.bookkeeping()``: the sizes of its maps and caches)
with its sizes before the first run: every per-run entry is gone, and the caches stay
under their stated bounds. Graphs are written as LangGraph's docs write them.
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from helpers import backend_of
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command, Send, interrupt

from lgaudit import GuardTripped, Recorder, Store, kill, lift_kill
from lgaudit.codec.serialization import SentBlobs
from lgaudit.recorder.batching import BatchedWriter
from lgaudit.replay.engine import replay_with
from lgaudit.store.blobs import BlobCache
from lgaudit.store.records import NewEvent, NewRun

#: caches with a stated bound (the rest must return to their size before the first run)
BOUNDS = {"writer.sent": SentBlobs().__dict__["_max"], "store.blob_cache": BlobCache()._max_items}


def runs_for(url: str) -> int:
    """A few hundred runs on SQLite, fewer on PostgreSQL (each run commits there)."""
    return 200 if backend_of(url) == "sqlite" else 60


def assert_released(recorder: Recorder, before: dict[str, int]) -> None:
    recorder.flush()
    after = recorder.bookkeeping()
    grown = {
        k: (before.get(k, 0), v)
        for k, v in after.items()
        if (v > BOUNDS[k] if k in BOUNDS else v != before.get(k, 0))
    }
    assert not grown, f"still remembered after the runs ended (before, after): {grown}"


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": f"t-{uuid.uuid4().hex[:12]}"}}


# -- graphs, as the docs write them ----------------------------------------------------------


class State(TypedDict):
    topic: str
    steps: Annotated[list[str], operator.add]


def plan(state: State) -> dict[str, Any]:
    return {"steps": [f"plan {state['topic']}"]}


def write(state: State) -> dict[str, Any]:
    if state["topic"] == "fail":
        raise ValueError("the writer failed")
    return {"steps": [f"write {state['topic']}"]}


def review(state: State) -> dict[str, Any]:
    return {"steps": ["review"]}


def linear() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("write", write)
    builder.add_node("review", review)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "write")
    builder.add_edge("write", "review")
    builder.add_edge("review", END)
    return builder


def approval() -> StateGraph:
    def ask(state: State) -> dict[str, Any]:
        answer = interrupt({"question": f"publish {state['topic']}?"})
        return {"steps": [f"human said {answer}"]}

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("ask", ask)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "ask")
    builder.add_edge("ask", END)
    return builder


class Overall(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]


def fan_out() -> StateGraph:
    def continue_to_jokes(state: Overall) -> list[Send]:
        return [Send("generate_joke", {"subject": s}) for s in state["subjects"]]

    def generate_joke(state: dict[str, Any]) -> dict[str, Any]:
        return {"jokes": [f"a joke about {state['subject']}"]}

    builder = StateGraph(Overall)
    builder.add_node("generate_joke", generate_joke)
    builder.add_conditional_edges(START, continue_to_jokes, ["generate_joke"])
    builder.add_edge("generate_joke", END)
    return builder


def with_subgraph() -> StateGraph:
    inner = StateGraph(State)
    inner.add_node("write", write)
    inner.add_node("review", review)
    inner.add_edge(START, "write")
    inner.add_edge("write", "review")
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("draft", inner.compile())
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "draft")
    return builder


def with_memory() -> StateGraph:
    def remember(state: State, *, store: BaseStore) -> dict[str, Any]:
        store.put(("users", "u1"), "topic", {"topic": state["topic"]})
        found = store.search(("users", "u1"), limit=5)
        return {"steps": [f"recalled {len(found)}"]}

    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    return builder


@task
def outline(topic: str) -> str:
    return f"outline of {topic}"


@task
def draft(text: str) -> str:
    return text + ", drafted"


@entrypoint()
def essay(topic: str) -> str:
    return draft(outline(topic).result()).result()


@tool
def lookup(query: str) -> str:
    """Look a query up."""
    return f"found {query}"


class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFake:
        return self


def agent() -> Any:
    model = ToolCallingFake(
        messages=iter(
            [
                AIMessage("", tool_calls=[{"name": "lookup", "args": {"query": "q"}, "id": "c1"}]),
                AIMessage("done"),
            ]
        )
    )
    return create_agent(model, tools=[lookup])


def start(topic: str = "otters") -> dict[str, Any]:
    return {"topic": topic, "steps": []}


# -- the paths ---------------------------------------------------------------------------------


def test_succeeded_runs_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(linear().compile())
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url)):
            assert graph.invoke(start(), thread())["steps"][-1] == "review"
        assert_released(recorder, before)
        with Store.open(db_url) as store:
            assert len(store.runs(limit=1000)) == runs_for(db_url)


def test_failed_runs_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(linear().compile())
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url)):
            with pytest.raises(ValueError, match="the writer failed"):
                graph.invoke(start("fail"), thread())
        assert_released(recorder, before)
        with Store.open(db_url) as store:
            assert {r["status"] for r in store.runs(limit=1000)} == {"failed"}


def test_interrupted_and_resumed_threads_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(approval().compile())
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url) // 2):
            config = thread()
            assert "__interrupt__" in graph.invoke(start(), config)
            done = graph.invoke(Command(resume="yes"), config)
            assert done["steps"][-1] == "human said yes"
        assert_released(recorder, before)
        with Store.open(db_url) as store:
            statuses = [r["status"] for r in store.runs(limit=1000)]
        assert statuses.count("interrupted") == statuses.count("succeeded") == runs_for(db_url) // 2


def test_streams_closed_early_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(linear().compile())
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url)):
            stream = graph.stream(start(), thread(), stream_mode="updates")
            assert "plan" in next(stream)
            stream.close()  # the caller went away after the first update
        assert_released(recorder, before)


def test_async_runs_and_streams_release_everything(db_url: str) -> None:
    async def main(recorder: Recorder, graph: Any, n: int) -> None:
        for i in range(n):
            if i % 2:
                assert (await graph.ainvoke(start(), thread()))["steps"][-1] == "review"
            else:
                async for _ in graph.astream(start(), thread()):
                    pass

    with Recorder(db_url) as recorder:
        graph = recorder.attach(linear().compile())
        before = recorder.bookkeeping()
        asyncio.run(main(recorder, graph, runs_for(db_url)))
        assert_released(recorder, before)


def test_guard_trips_and_kill_orders_release_everything(db_url: str) -> None:
    n = runs_for(db_url) // 2
    with Recorder(db_url, guard={"budget": {"max_steps": 2}}) as recorder:
        graph = recorder.attach(linear().compile())
        before = recorder.bookkeeping()
        for _ in range(n):
            with pytest.raises(GuardTripped, match="budget.steps"):
                graph.invoke(start(), thread())
        order = kill(reason="stop everything", url=db_url)
        recorder.kill_check.watch.poll()  # type: ignore[union-attr] - seen now, not in 1 s
        for _ in range(n):
            with pytest.raises(GuardTripped, match="guard.killed"):
                graph.invoke(start(), thread())
        lift_kill(order.id, url=db_url)
        assert_released(recorder, before)
    with Store.open(db_url) as store:
        assert {r["status"] for r in store.runs(limit=1000)} == {"failed"}


def test_subgraphs_and_send_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        nested = recorder.attach(with_subgraph().compile())
        jokes = recorder.attach(fan_out().compile())
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url) // 2):
            assert nested.invoke(start(), thread())["steps"][-1] == "review"
            out = jokes.invoke({"subjects": ["cats", "dogs", "owls"], "jokes": []}, thread())
            assert len(out["jokes"]) == 3
        assert_released(recorder, before)


def test_functional_api_releases_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        workflow = recorder.attach(essay)
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url)):
            assert workflow.invoke("otters", thread()) == "outline of otters, drafted"
        assert_released(recorder, before)


def test_memory_stores_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(with_memory().compile(store=InMemoryStore()))
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url)):
            assert graph.invoke(start(), thread())["steps"] == ["recalled 1"]
        assert_released(recorder, before)
        with Store.open(db_url) as store:
            run = store.runs(limit=1)[0]["run_id"]
            kinds = [e["kind"] for e in store.events(run)]
        assert "memory_write" in kinds and "memory_read" in kinds


def test_agents_with_models_and_tools_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url) // 2):
            graph = recorder.attach(agent())
            out = graph.invoke({"messages": [HumanMessage("look q up")]}, thread())
            assert out["messages"][-1].content == "done"
        assert_released(recorder, before)


def test_threads_of_many_runs_release_their_checkpoint_steps(db_url: str) -> None:
    """A thread's checkpoint steps are kept while a run of it is in progress; the next run
    of the thread reads them back (its writes are recorded at the right step)."""
    with Recorder(db_url) as recorder:
        graph = recorder.attach(linear().compile())
        config = thread()
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url) // 4):
            graph.invoke(start(), config)
        assert_released(recorder, before)
        with Store.open(db_url) as store:
            runs = store.runs(thread_id=config["configurable"]["thread_id"], limit=1000)
            last = store.events(runs[0]["run_id"], kinds=["writes"])
    assert all(isinstance(e["step"], int) for e in last)


def test_the_writer_forgets_ended_runs(db_url: str) -> None:
    """What the append path remembers per run (its row inserted, its next sequence
    number) goes with the run's last event: in this process and in the writer process,
    which runs the same ``Store.append``."""
    with Store(db_url) as store:
        for _ in range(runs_for(db_url)):
            run = NewRun(run_id=str(uuid.uuid4()), thread_id="t")
            store.append([NewEvent(run=run, kind="run_start", payload={})])
            store.append([NewEvent(run=run, kind="run_end", payload={"status": "succeeded"})])
        assert store.known_runs_count() == 0
        assert store._writer is not None and not store._writer._seqs
        assert store.verify()["ok"]


def test_a_batched_writer_holds_nothing_between_runs(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        assert isinstance(recorder.sink, BatchedWriter)
        recorder.sink.start_process()
        graph = recorder.attach(linear().compile())
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url)):
            graph.invoke(start(), thread())
        assert_released(recorder, before)
        assert recorder.bookkeeping()["writer.state_threads"] == 0


def test_replays_release_everything(db_url: str) -> None:
    with Recorder(db_url) as recorder:
        graph = recorder.attach(linear().compile())
        graph.invoke(start(), thread())
        recorder.flush()
        source = recorder.store.runs(limit=1)[0]["run_id"]
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url) // 4):
            result = replay_with(recorder, source, graph=linear().compile())
            assert result.status == "succeeded"
        assert_released(recorder, before)


SHADOW_SUITE = """
[suite]
name = "greeter-v2"
graph = "shadow_graphs:greeter_changed"

[traffic]
environment = "production"
graph = "greeter"
"""


def test_a_following_shadow_releases_everything(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lgaudit shadow --follow`` runs for hours: its recorder forgets each replay, and it
    keeps only its last ``FOLLOW_CASES`` cases (the verdict counts them all)."""
    import shadow_graphs

    from lgaudit.stage import shadow as shadow_module

    n = runs_for(db_url) // 4
    with Recorder(db_url, environment="production") as recorder:
        graph = recorder.attach(shadow_graphs.greeter())
        for i in range(n):
            graph.invoke({"name": "bob" if i % 10 == 0 else f"user {i}"})
    sessions: list[tuple[Any, dict[str, int]]] = []

    class Watched(shadow_module.Session):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            sessions.append((self, self.recorder.bookkeeping()))

    monkeypatch.setattr(shadow_module, "Session", Watched)
    monkeypatch.setattr(shadow_module, "FOLLOW_CASES", 5)
    suite = tmp_path / "shadow.toml"
    suite.write_text(SHADOW_SUITE, encoding="utf-8")
    result = shadow_module.shadow(str(suite), url=db_url, follow=True, max_runs=n, poll_s=0.05)
    assert result.replayed == n and len(result.cases) == 5
    assert f"{(n + 9) // 10} regression(s) in {n} shadowed runs" in result.checks[0].detail
    ((session, before),) = sessions
    assert_released(session.recorder, before)


def test_a_graph_with_its_own_checkpointer_releases_everything(db_url: str) -> None:
    """Teed (``RecordingSaver``): a resumed thread's state is read from the graph's own
    checkpointer, so the step its writes belong to is read back from the store."""
    with Recorder(db_url) as recorder:
        graph = recorder.attach(approval().compile(checkpointer=InMemorySaver()))
        before = recorder.bookkeeping()
        for _ in range(runs_for(db_url) // 4):
            config = thread()
            assert "__interrupt__" in graph.invoke(start(), config)
            assert graph.invoke(Command(resume="no"), config)["steps"][-1] == "human said no"
        assert_released(recorder, before)
        with Store.open(db_url) as store:
            resumed = store.runs(limit=1)[0]["run_id"]
            writes = store.events(resumed, kinds=["writes"])
    assert writes and all(isinstance(e["step"], int) for e in writes)
