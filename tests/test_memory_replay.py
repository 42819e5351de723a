"""Long-term memory replayed — both backends.

Under a strict or lenient cassette a replay reads what the recorded run read, whatever the
live store holds now, and writes to a store of its own; with the cassette off it uses the
live store. Async graphs, prebuilt agents whose tools use the store, subgraphs and
interrupts alike.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, TypedDict

from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.func import entrypoint, task
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command, interrupt
from memory_graphs import (
    chat_graph,
    memories,
    memory_events,
    memory_store_fixture,  # noqa: F401 - the fixture memory_store
    model,
    run_of,
    say,
)

from lgaudit import Recorder, Store, diff, replay
from lgaudit.demo import scripted_model


def test_strict_replay_reads_what_the_original_read_and_leaves_the_live_store(
    db_url: str, memory_store: BaseStore
) -> None:
    graph = chat_graph(memory_store)
    with Recorder(db_url) as rec:
        recorded = rec.attach(graph)
        say(recorded, "remember my name is Alice", "alice-1", "alice")
        say(recorded, "what is my name?", "alice-2", "alice")
        rec.flush()
        wrote, recalled = run_of(rec.store, "alice-1"), run_of(rec.store, "alice-2")
        original = memory_events(rec.store, recalled)
    # the live memory changes after the run: its fact rewritten, another one added
    ((key, _),) = memories(memory_store, "alice")
    memory_store.put(("alice", "memories"), key, {"data": "my name is Mallory"})
    memory_store.put(("alice", "memories"), "extra", {"data": "I moved to Paris"})
    live = memories(memory_store, "alice")

    again = replay(recalled, graph=graph, url=db_url, cassette="strict")
    rewritten = replay(wrote, graph=graph, url=db_url, cassette="strict")

    assert (again.status, rewritten.status) == ("succeeded", "succeeded")
    assert memories(memory_store, "alice") == live  # no replay wrote to the live store
    with Store.open(db_url) as store:
        replayed = memory_events(store, again.run_id)
        assert [e["payload"] for e in replayed] == [e["payload"] for e in original]
        assert "my name is Alice" in json.dumps(replayed[0]["payload"]["result"])
        assert diff(store, recalled, again.run_id).identical
        assert diff(store, wrote, rewritten.run_id).identical  # a random key is no difference
        (write,) = memory_events(store, rewritten.run_id)[1:]
        assert write["payload"]["value"] == {"data": "my name is Alice"}

        off = replay(recalled, graph=graph, url=db_url, cassette="off")
        changed = diff(store, recalled, off.run_id)
    # with the cassette off the replay reads the live store: the diff names the memory read
    assert not changed.identical
    first = changed.first_divergence
    assert first is not None and first["kind"] == "memory" and first["node"] == "call_model"
    assert first["path"].startswith("memory.reads[0].result")


def test_a_read_the_recording_lacks(db_url: str) -> None:
    live = InMemoryStore()
    with Recorder(db_url) as rec:
        recorded = rec.attach(chat_graph(live))
        say(recorded, "remember my name is Alice", "alice-1", "alice")
        say(recorded, "what is my name?", "alice-2", "alice")
        rec.flush()
        recalled = run_of(rec.store, "alice-2")
    live.put(("alice", "memories"), "late", {"data": "written after the run"})

    def call_model_v2(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
        user_id = config["configurable"]["user_id"]  # v2 also looks up the user's profile
        profile = store.search((user_id, "memories"), query="profile")
        return {"messages": AIMessage(f"profile: {[p.value['data'] for p in profile]}")}

    v2 = chat_graph(live, call_model_v2)
    strict = replay(recalled, graph=v2, url=db_url, cassette="strict")
    lenient = replay(recalled, graph=v2, url=db_url, cassette="lenient")

    assert strict.status == "failed" and strict.error is not None
    assert "memory search ('alice', 'memories') #1 in call_model@step1" in strict.error
    assert "nearest recorded: memory search ('alice', 'memories')" in strict.error
    # lenient: the replay's own store, seeded with what the recorded run read (not the live one)
    assert lenient.status == "succeeded"
    with Store.open(db_url) as store:
        (read,) = memory_events(store, lenient.run_id)
    assert [r["value"]["data"] for r in read["payload"]["result"]] == ["my name is Alice"]


def test_a_version_that_remembers_differently_diverges_at_the_write(db_url: str) -> None:
    live = InMemoryStore()
    with Recorder(db_url) as rec:
        say(rec.attach(chat_graph(live)), "remember my name is Alice", "alice-1", "alice")
        rec.flush()
        original = run_of(rec.store, "alice-1")

    def call_model_v2(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
        namespace = (config["configurable"]["user_id"], "memories")
        memories = store.search(namespace, query=str(state["messages"][-1].content))
        # v2 stores the whole message, shouted, not what follows "remember"
        store.put(
            namespace, str(uuid.uuid4()), {"data": str(state["messages"][-1].content).upper()}
        )
        info = "\n".join(d.value["data"] for d in memories)
        system_msg = f"You are a helpful assistant talking to the user. User info: {info}"
        return {"messages": model.invoke([("system", system_msg), *state["messages"]])}

    again = replay(original, graph=chat_graph(live, call_model_v2), url=db_url)

    assert again.status == "succeeded", again.error
    with Store.open(db_url) as store:
        found = diff(store, original, again.run_id)
    first = found.first_divergence
    assert first is not None and (first["kind"], first["node"]) == ("memory", "call_model")
    assert first["path"] == "memory.writes[0].value.data"
    assert (first["a"], first["b"]) == ("my name is Alice", "REMEMBER MY NAME IS ALICE")


def test_async_graph_memory_is_recorded_and_replayed(db_url: str) -> None:
    async def acall_model(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
        namespace = (config["configurable"]["user_id"], "memories")
        profile = await store.aget(namespace, "profile")
        found = await store.asearch(namespace, query=str(state["messages"][-1].content))
        await store.aput(namespace, "profile", {"data": "visited", "turns": len(found) + 1})
        response = await model.ainvoke(
            [{"role": "system", "content": f"profile: {profile and profile.value}"}]
        )
        return {"messages": response}

    live = InMemoryStore()
    graph = chat_graph(live, acall_model)
    with Recorder(db_url) as rec:
        recorded = rec.attach(graph)
        for thread in ("a-1", "a-2"):
            config = {"configurable": {"thread_id": thread, "user_id": "alice"}}
            asyncio.run(recorded.ainvoke({"messages": [("user", "hello")]}, config))
        rec.flush()
        second = run_of(rec.store, "a-2")
        events = memory_events(rec.store, second)
    ops = [(e["kind"], e["payload"]["op"], e["node"]) for e in events]
    assert ops == [
        ("memory_read", "get", "call_model"),
        ("memory_read", "search", "call_model"),
        ("memory_write", "put", "call_model"),
    ]
    assert events[0]["payload"]["result"]["value"] == {"data": "visited", "turns": 1}
    live.put(("alice", "memories"), "profile", {"data": "changed"})

    again = replay(second, graph=graph, url=db_url, cassette="strict")

    assert again.status == "succeeded", again.error
    assert live.get(("alice", "memories"), "profile").value == {"data": "changed"}  # type: ignore[union-attr]
    with Store.open(db_url) as store:
        assert diff(store, second, again.run_id).identical


def test_memory_tools_of_a_prebuilt_agent_replay_identically(db_url: str) -> None:
    """``create_agent`` with tools that read and write the store (``ToolRuntime``, as
    LangChain's long-term memory docs write them): a strict replay serves the tools and
    makes their memory operations again, on the replay's store, not the live one."""

    @tool
    def save_user_info(fact: str, runtime: ToolRuntime) -> str:
        """Save a fact about the user."""
        assert runtime.store is not None
        runtime.store.put(("users",), runtime.config["configurable"]["user_id"], {"fact": fact})
        return "saved"

    @tool
    def get_user_info(runtime: ToolRuntime) -> str:
        """Look up what is known about the user."""
        assert runtime.store is not None
        item = runtime.store.get(("users",), runtime.config["configurable"]["user_id"])
        return str(item.value) if item else "unknown user"

    def agent(store: BaseStore) -> Any:
        calls = [("save_user_info", {"fact": "likes tea"}), ("get_user_info", {})]
        answers: list[BaseMessage] = [
            AIMessage("", tool_calls=[{"name": n, "args": a, "id": f"c{i}"}])
            for i, (n, a) in enumerate(calls)
        ]
        model = scripted_model([*answers, AIMessage("You like tea.")])
        tools = [save_user_info, get_user_info]
        return create_agent(model, tools, checkpointer=InMemorySaver(), store=store)

    live = InMemoryStore()
    with Recorder(db_url) as rec:
        config = {"configurable": {"thread_id": "alice-1", "user_id": "alice"}}
        rec.attach(agent(live)).invoke({"messages": [("user", "I like tea")]}, config)
        rec.flush()
        original = run_of(rec.store, "alice-1")
    live.put(("users",), "alice", {"fact": "changed since"})

    again = replay(original, graph=agent(live), url=db_url, cassette="strict")

    assert again.status == "succeeded", again.error
    assert live.get(("users",), "alice").value == {"fact": "changed since"}  # type: ignore[union-attr]
    with Store.open(db_url) as store:
        made = [
            (e["kind"], e["node"], e["payload"]["op"]) for e in memory_events(store, again.run_id)
        ]
        assert made == [("memory_write", "tools", "put"), ("memory_read", "tools", "get")]
        assert diff(store, original, again.run_id).identical


class Facts(TypedDict):
    facts: list[str]


def test_memory_in_a_subgraph_and_across_an_interrupt(db_url: str) -> None:
    """A subgraph's node searches memory; a gate reads it, asks a human, and writes the
    answer: each recorded where it happened, and each run replays what it read."""

    def inner(state: Facts, config: RunnableConfig, *, store: BaseStore) -> Any:
        user = config["configurable"]["user_id"]
        return {"facts": [i.value["data"] for i in store.search((user, "memories"))]}

    def ask(state: Facts, config: RunnableConfig, *, store: BaseStore) -> Any:
        user = config["configurable"]["user_id"]
        seen = store.get((user, "memories"), "drink")
        answer = interrupt({"confirm": seen.value if seen else None})
        store.put((user, "memories"), "confirmed", {"data": str(answer)})
        return {"facts": [*state["facts"], answer]}

    sub = StateGraph(Facts)
    sub.add_node("inner", inner)
    sub.add_edge(START, "inner")
    builder = StateGraph(Facts)
    builder.add_node("sub", sub.compile())
    builder.add_node("ask", ask)
    builder.add_edge(START, "sub")
    builder.add_edge("sub", "ask")
    live = InMemoryStore()
    live.put(("alice", "memories"), "drink", {"data": "tea"})
    graph = builder.compile(checkpointer=InMemorySaver(), store=live)
    config = {"configurable": {"thread_id": "alice-1", "user_id": "alice"}}
    with Recorder(db_url) as rec:
        recorded = rec.attach(graph)
        recorded.invoke({"facts": []}, config)
        recorded.invoke(Command(resume="yes"), config)
        rec.flush()
        asked, resumed = (r["run_id"] for r in reversed(rec.store.runs(thread_id="alice-1")))
        first, second = memory_events(rec.store, asked), memory_events(rec.store, resumed)
    where = [
        (e["node"], e["step"], e["checkpoint_ns"].split(":")[0], e["payload"]["op"])
        for e in [*first, *second]
    ]
    assert where == [
        ("inner", 1, "sub", "search"),
        ("ask", 2, "", "get"),
        ("ask", 2, "", "get"),  # the gate runs again on the resume
        ("ask", 2, "", "put"),
    ]
    live.put(("alice", "memories"), "drink", {"data": "coffee"})
    live.delete(("alice", "memories"), "confirmed")
    before = memories(live, "alice")

    for run, events in ((asked, first), (resumed, second)):
        again = replay(run, graph=graph, url=db_url)
        with Store.open(db_url) as store:
            replayed = memory_events(store, again.run_id)
            assert diff(store, run, again.run_id).identical
        assert [e["payload"] for e in replayed] == [e["payload"] for e in events]
    assert memories(live, "alice") == before  # the resumed run's put went to its own store


def test_functional_api_memory_is_recorded_and_replayed(db_url: str) -> None:
    """``@entrypoint(store=...)`` with its injected ``store`` and a ``@task`` using
    ``get_store()``."""
    live = InMemoryStore()
    live.put(("alice", "memories"), "drink", {"data": "tea"})

    @task
    def recall(user: str) -> list[str]:
        return [i.value["data"] for i in get_store().search((user, "memories"))]

    @entrypoint(checkpointer=InMemorySaver(), store=live)
    def workflow(user: str, *, store: BaseStore) -> list[str]:
        store.put((user, "memories"), "visit", {"data": "came back"})
        return recall(user).result()

    with Recorder(db_url) as rec:
        rec.attach(workflow).invoke("alice", {"configurable": {"thread_id": "alice-1"}})
        rec.flush()
        run = run_of(rec.store, "alice-1")
        events = memory_events(rec.store, run)
    assert [(e["kind"], e["node"], e["payload"]["op"]) for e in events] == [
        ("memory_write", "workflow", "put"),
        ("memory_read", "recall", "search"),
    ]
    live.put(("alice", "memories"), "drink", {"data": "coffee"})
    before = memories(live, "alice")

    again = replay(run, graph=workflow, url=db_url)

    assert again.status == "succeeded", again.error
    assert memories(live, "alice") == before
    with Store.open(db_url) as store:
        replayed = memory_events(store, again.run_id)
        assert diff(store, run, again.run_id).identical
    assert [r["value"]["data"] for r in replayed[1]["payload"]["result"]] == ["tea", "came back"]
