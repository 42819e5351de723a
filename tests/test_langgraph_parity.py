"""A graph behaves the same recorded as not: what LangGraph's own test suite found
(``benchmarks/langgraph_suite.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import operator
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import BaseModel

from lgaudit import Recorder


@pytest.fixture
def recorder(db_url: str):
    rec = Recorder(db_url, environment="test")
    yield rec
    rec.close()


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


class Counter(TypedDict):
    value: Annotated[int, operator.add]


def _counter() -> StateGraph:
    builder = StateGraph(Counter)
    builder.add_node("add", lambda s: {"value": 1})
    builder.add_edge(START, "add")
    return builder


def test_threadless_call_on_graph_with_own_checkpointer_raises_langgraphs_error(
    recorder: Recorder,
) -> None:
    plain = _counter().compile(checkpointer=InMemorySaver())
    with pytest.raises(ValueError) as unattached:
        plain.invoke({"value": 1})
    graph = recorder.attach(_counter().compile(checkpointer=InMemorySaver()))
    with pytest.raises(ValueError) as attached:
        graph.invoke({"value": 1})
    assert str(attached.value) == str(unattached.value)
    assert "thread_id" in str(attached.value)
    with pytest.raises(ValueError, match="thread_id"):
        list(graph.stream({"value": 1}))
    assert graph.invoke({"value": 1}, cfg("t"))["value"] == 2  # with a thread it records
    recorder.flush()
    assert [r["status"] for r in recorder.store.runs(thread_id="t", limit=None)] == ["succeeded"]


def test_closing_attached_astream_early_cancels_its_running_nodes(recorder: Recorder) -> None:
    seen: dict[str, bool] = {"started": False, "cancelled": False, "after": False}

    async def run() -> None:
        started = asyncio.Event()

        async def slow(state: Counter) -> dict[str, int]:
            seen["started"] = True
            started.set()
            try:
                await asyncio.Event().wait()  # runs until cancelled
            except asyncio.CancelledError:
                seen["cancelled"] = True
                raise
            return {"value": 100}

        async def quick(state: Counter) -> dict[str, int]:
            await started.wait()
            return {"value": 2}

        async def after(state: Counter) -> dict[str, int]:
            seen["after"] = True
            return {"value": 10}

        builder = StateGraph(Counter)
        builder.add_node("slow", slow)
        builder.add_node("quick", quick)
        builder.add_node("after", after)
        builder.add_edge(START, "slow")
        builder.add_edge(START, "quick")
        builder.add_edge("quick", "after")
        graph = recorder.attach(builder.compile(checkpointer=recorder.checkpointer))
        async with aclosing(graph.astream({"value": 1}, cfg("c"))) as stream:
            async for chunk in stream:
                assert chunk == {"quick": {"value": 2}}
                break
        # checked before the event loop closes (which would close a forgotten stream too)
        assert seen == {"started": True, "cancelled": True, "after": False}

    asyncio.run(run())


def _chat(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(text)]))


def _nested_chat_graph() -> StateGraph:
    model = _chat("sunny")

    def forecast(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"progress": "asking"})
        return {"messages": [model.invoke(state["messages"])]}

    inner = StateGraph(MessagesState)
    inner.add_node("forecast", forecast)
    inner.add_edge(START, "forecast")
    outer = StateGraph(MessagesState)
    outer.add_node("weather", inner.compile())
    outer.add_edge(START, "weather")
    return outer


def test_nothing_of_lgaudit_in_the_graphs_stream_output(recorder: Recorder) -> None:
    modes = ["values", "updates", "messages", "custom", "tasks", "debug", "checkpoints"]
    graph = recorder.attach(_nested_chat_graph().compile(checkpointer=recorder.checkpointer))
    chunks = list(
        graph.stream(
            {"messages": [HumanMessage("weather?")]}, cfg("w"), stream_mode=modes, subgraphs=True
        )
    )
    assert {c[1] for c in chunks} == set(modes)
    assert "lgaudit" not in repr(chunks)
    # the messages stream's metadata is what the unrecorded graph gives, key for key
    plain = _nested_chat_graph().compile(checkpointer=InMemorySaver())
    plain_chunks = list(
        plain.stream(
            {"messages": [HumanMessage("weather?")]},
            cfg("w"),
            stream_mode="messages",
            subgraphs=True,
        )
    )
    recorded_md = [c[2][1] for c in chunks if c[1] == "messages"]
    assert [sorted(md) for md in recorded_md] == [sorted(c[1][1]) for c in plain_chunks]
    # and the run is still recorded whole: the model call and the custom write inside the
    # subgraph belong to it
    recorder.flush()
    (run,) = recorder.store.runs(thread_id="w", limit=None)
    events = recorder.store.events(run["run_id"])
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert {"llm_start", "llm_end", "custom", "checkpoint", "node_start"} <= set(kinds)
    (llm,) = [e for e in events if e["kind"] == "llm_start"]
    assert llm["node"] == "forecast" and llm["checkpoint_ns"].startswith("weather:")


class Action(BaseModel):
    tool: str
    tool_input: str


class AgentState(BaseModel):
    query: str
    action: Action | None = None


@dataclass
class Note:
    text: str


class NotesState(TypedDict):
    notes: Annotated[list[Note], operator.add]
    last: Action | None


def test_bare_checkpointer_gives_back_the_types_the_process_wrote(recorder: Recorder) -> None:
    builder = StateGraph(AgentState)
    builder.add_node("plan", lambda s: {"action": Action(tool="search", tool_input=s.query)})
    builder.add_edge(START, "plan")
    graph = builder.compile(checkpointer=recorder.checkpointer)
    graph.invoke(AgentState(query="cats"), cfg("p"))
    state = graph.get_state(cfg("p"))
    assert state.values["action"] == Action(tool="search", tool_input="cats")

    notes = StateGraph(NotesState)
    last = Action(tool="t", tool_input="")
    notes.add_node("note", lambda s: {"notes": [Note("a")], "last": last})
    notes.add_edge(START, "note")
    second = notes.compile(checkpointer=recorder.checkpointer)
    second.invoke({"notes": [Note("first")], "last": None}, cfg("n"))
    second.invoke({"notes": []}, cfg("n"))  # the next turn reads the state back
    values = second.get_state(cfg("n")).values
    assert values["notes"] == [Note("first"), Note("a"), Note("a")]
    assert isinstance(values["last"], Action)


class NeverWritten(BaseModel):
    secret: str


def test_a_stored_type_this_process_never_wrote_stays_plain_data(recorder: Recorder) -> None:
    # a value naming a type by another writer (LangGraph's permissive serializer): loading it
    # through lgaudit's checkpointer never calls that type's constructor
    blob = JsonPlusSerializer().dumps_typed({"x": NeverWritten(secret="s")})
    assert recorder.checkpointer.serde.loads_typed(blob) == {"x": {"secret": "s"}}


def test_recording_draws_none_of_the_graphs_uuid4_ids(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LangGraph's tests patch ``uuid.uuid4`` to get deterministic message ids: recording must
    # not take ids from it, or every id after the first shifts
    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("hello")]}  # add_messages gives it a uuid4 id

    def message_ids(graph: Any, thread: str) -> list[str]:
        counter = itertools.count()
        monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter), version=4))
        out = graph.invoke({"messages": [HumanMessage("hi")]}, cfg(thread))
        monkeypatch.undo()
        return [m.id for m in out["messages"]]

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    plain = message_ids(builder.compile(checkpointer=InMemorySaver()), "a")
    attached = message_ids(recorder.attach(builder.compile()), "b")
    bare = message_ids(builder.compile(checkpointer=recorder.checkpointer), "c")
    assert attached == plain and bare == plain
