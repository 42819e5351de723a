"""Long-term memory: a graph's LangGraph store recorded, replayed and audited — both backends.

The agent is the one LangGraph's memory docs write: a node ``call_model(state, config, *,
store)`` that searches the user's namespace ``(user_id, "memories")``, stores what the user
asks it to remember, and answers from what it recalled. Its store is LangGraph's
``InMemoryStore`` and, on PostgreSQL, also ``PostgresStore``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from click.testing import CliRunner
from helpers import psycopg_dsn
from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore, ListNamespacesOp, PutOp
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command, interrupt
from test_redaction import raw_database

from lgaudit import Policy, Recorder, Store, audit, diff, replay
from lgaudit.audit.report import render_report
from lgaudit.cli import cli
from lgaudit.demo import scripted_model


class EchoModel(BaseChatModel):
    """Answers with its system prompt (what the node recalled) and the user's last words."""

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        system = messages[0].content if messages[0].type == "system" else ""
        answer = AIMessage(f"{system} | you said: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=answer)])

    @property
    def _llm_type(self) -> str:
        return "echo"


model = EchoModel()


def call_model(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
    user_id = config["configurable"]["user_id"]
    namespace = (user_id, "memories")
    memories = store.search(namespace, query=str(state["messages"][-1].content))
    info = "\n".join(d.value["data"] for d in memories)
    system_msg = f"You are a helpful assistant talking to the user. User info: {info}"
    last = state["messages"][-1]
    if "remember" in str(last.content).lower():
        memory = str(last.content).split("remember", 1)[1].strip()
        store.put(namespace, str(uuid.uuid4()), {"data": memory})
    response = model.invoke([{"role": "system", "content": system_msg}, *state["messages"]])
    return {"messages": response}


def chat_graph(store: BaseStore, node: Any = call_model) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("call_model", node)
    builder.add_edge(START, "call_model")
    return builder.compile(checkpointer=InMemorySaver(), store=store)


def say(graph: Any, text: str, thread: str, user: str) -> str:
    config = {"configurable": {"thread_id": thread, "user_id": user}}
    return str(graph.invoke({"messages": [("user", text)]}, config)["messages"][-1].content)


def memories(store: BaseStore, user: str) -> list[tuple[str, dict[str, Any]]]:
    return sorted((i.key, i.value) for i in store.search((user, "memories")))


def memory_events(store: Store, run_id: str) -> list[dict[str, Any]]:
    return [e for e in store.show(run_id)["events"] if e["kind"].startswith("memory_")]


def run_of(store: Store, thread: str) -> str:
    return store.runs(thread_id=thread, limit=1)[0]["run_id"]


@pytest.fixture(params=["InMemoryStore", "PostgresStore"])
def memory_store(request: pytest.FixtureRequest, backend: str, db_url: str) -> Iterator[BaseStore]:
    """The graph's long-term memory: LangGraph's in-memory store, or on PostgreSQL its
    ``PostgresStore`` (in the test database, beside lgaudit's tables)."""
    if request.param == "InMemoryStore":
        yield InMemoryStore()
        return
    if backend != "postgresql":
        pytest.skip("PostgresStore runs on the PostgreSQL backend")
    from langgraph.store.postgres import PostgresStore

    with PostgresStore.from_conn_string(psycopg_dsn(db_url)) as pg_store:
        pg_store.setup()
        yield pg_store


def test_two_users_chat_is_recorded_with_its_memory(db_url: str, memory_store: BaseStore) -> None:
    with Recorder(db_url) as rec:
        graph = rec.attach(chat_graph(memory_store))
        say(graph, "Please remember my name is Alice", "alice-1", "alice")
        say(graph, "remember I play chess", "bob-1", "bob")
        answer = say(graph, "what is my name?", "alice-2", "alice")
        rec.flush()
        # the user's store works as it does without the recorder: Alice's fact, not Bob's
        assert "my name is Alice" in answer and "chess" not in answer
        assert [v for _, v in memories(memory_store, "alice")] == [{"data": "my name is Alice"}]
        wrote, recalled = run_of(rec.store, "alice-1"), run_of(rec.store, "alice-2")
        writes = [e for e in memory_events(rec.store, wrote) if e["kind"] == "memory_write"]
        reads = memory_events(rec.store, recalled)

    (write,) = writes
    key = memories(memory_store, "alice")[0][0]
    assert (write["node"], write["step"]) == ("call_model", 1) and write["task_id"]
    assert write["payload"]["op"] == "put"
    assert write["payload"]["namespace"] == ["alice", "memories"]
    assert write["payload"]["key"] == key
    assert write["payload"]["value"] == {"data": "my name is Alice"}
    (read,) = reads
    assert (read["kind"], read["node"], read["step"]) == ("memory_read", "call_model", 1)
    assert read["payload"]["op"] == "search"
    assert read["payload"]["query"] == "what is my name?"
    assert [(r["key"], r["value"]) for r in read["payload"]["result"]] == [
        (key, {"data": "my name is Alice"})
    ]

    runner = CliRunner()
    shown = runner.invoke(cli, ["show", recalled, "--db", db_url])
    assert shown.exit_code == 0, shown.output
    assert "memory search alice.memories 'what is my name?'" in shown.output
    blamed = runner.invoke(
        cli, ["blame", recalled, key, "--memory", "alice.memories", "--json", "--db", db_url]
    )
    assert blamed.exit_code == 0, blamed.output
    (entry,) = json.loads(blamed.output)
    assert (entry["run_id"], entry["thread_id"], entry["node"], entry["source"]) == (
        wrote,
        "alice-1",
        "call_model",
        "put",
    )
    assert entry["value"] == {"data": "my name is Alice"}
    with Store.open(db_url) as store:
        page = render_report(store, recalled)
        scoped = audit(store, [wrote, recalled], Policy.from_dict({"memory": {"scope": "user_id"}}))
    assert "search alice.memories" in page and "my name is Alice" in page
    assert scoped.findings == ()


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


def test_a_search_in_another_users_namespace_is_cross_scope(db_url: str, tmp_path: Path) -> None:
    cached: dict[str, tuple[str, ...]] = {}

    def call_model_cached(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
        # the bug: the namespace is cached per process, not per user
        namespace = cached.setdefault("ns", (config["configurable"]["user_id"], "memories"))
        found = store.search(namespace, query=str(state["messages"][-1].content))
        return {"messages": AIMessage(f"I recall: {[d.value for d in found]}")}

    live = InMemoryStore()
    live.put(("bob", "memories"), "m1", {"data": "bob's card ends 4242"})
    with Recorder(db_url) as rec:
        graph = rec.attach(chat_graph(live, call_model_cached))
        say(graph, "hi", "bob-1", "bob")
        leaked = say(graph, "hi", "alice-1", "alice")
        rec.flush()
        bob, alice = run_of(rec.store, "bob-1"), run_of(rec.store, "alice-1")
    assert "4242" in leaked  # Alice was shown Bob's memory

    policy = tmp_path / "memory.toml"
    policy.write_text('[memory]\nscope = "user_id"\n')
    result = CliRunner().invoke(
        cli, ["audit", bob, alice, "--policy", str(policy), "--json", "--db", db_url]
    )
    assert result.exit_code == 1, result.output
    (finding,) = json.loads(result.output)["findings"]
    assert finding["rule"] == "memory.cross_scope" and finding["run_id"] == alice
    assert (finding["node"], finding["step"]) == ("call_model", 1)
    assert "('bob', 'memories')" in finding["message"] and "user_id 'alice'" in finding["message"]

    # a replay is scoped by the user of the run it replays
    again = replay(alice, graph=chat_graph(live, call_model_cached), url=db_url)
    assert again.status == "succeeded", again.error
    with Store.open(db_url) as store:
        (replayed,) = audit(store, [again.run_id], policy).findings
    assert replayed.rule == "memory.cross_scope" and "user_id 'alice'" in replayed.message

    policy.write_text("[memory]\nscope = 3\n")
    bad = CliRunner().invoke(cli, ["audit", alice, "--policy", str(policy), "--db", db_url])
    assert bad.exit_code == 2 and "memory.scope" in bad.output


def test_a_secret_in_memory_is_stored_redacted(db_url: str) -> None:
    secret = "sk-proj-" + uuid.uuid4().hex
    live = InMemoryStore()

    def call_model_keys(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> Any:
        namespace = (config["configurable"]["user_id"], "memories")
        store.put(namespace, "llm", {"provider": "openai", "api_key": secret})
        store.put(namespace, "note", {"data": f"my key is {secret}"})
        found = store.search(namespace, query=f"which key? {secret}")
        return {"messages": AIMessage(f"stored {len(found)} memories")}

    graph = chat_graph(live, call_model_keys)
    with Recorder(db_url) as rec:
        say(rec.attach(graph), "hi", "alice-1", "alice")
        rec.flush()
        run = run_of(rec.store, "alice-1")
        events = memory_events(rec.store, run)
    # the user's store keeps the real values; the audit log only the masked ones
    assert live.get(("alice", "memories"), "llm").value["api_key"] == secret  # type: ignore[union-attr]
    assert secret.encode() not in raw_database(db_url)
    put_key, put_note, search = (e["payload"] for e in events)
    assert put_key["value"] == {"provider": "openai", "api_key": "[REDACTED]"}
    assert put_note["value"] == {"data": "my key is [REDACTED]"}
    assert search["query"] == "which key? [REDACTED]"
    assert sorted(json.dumps(r["value"]) for r in search["result"]) == [
        '{"api_key": "[REDACTED]", "provider": "openai"}',
        '{"data": "my key is [REDACTED]"}',
    ]
    # a strict replay matches the search by its masked query and serves the masked items
    again = replay(run, graph=graph, url=db_url)
    assert again.status == "succeeded", again.error
    with Store.open(db_url) as store:
        assert diff(store, run, again.run_id).identical
    assert secret.encode() not in raw_database(db_url)


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


def test_recorder_store_is_the_memory_of_a_graph_given_none(db_url: str) -> None:
    """``Recorder(store=...)``, reached through ``runtime.store``, ``get_store()`` and
    ``batch``."""

    def remember(state: MessagesState, runtime: Runtime) -> Any:
        assert runtime.store is not None
        runtime.store.put(("alice", "memories"), "seen", {"data": "hello"})
        seen = get_store().get(("alice", "memories"), "seen")
        _, listed = runtime.store.batch(
            [PutOp(("alice", "memories"), "seen", None), ListNamespacesOp()]
        )
        return {"messages": AIMessage(f"{seen} {listed}")}

    builder = StateGraph(MessagesState)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    shared = InMemoryStore()
    with Recorder(db_url, store=shared) as rec:
        say(rec.attach(builder.compile()), "hi", "alice-1", "alice")
        rec.flush()
        events = memory_events(rec.store, run_of(rec.store, "alice-1"))
    assert shared.get(("alice", "memories"), "seen") is None  # the batch deleted it
    assert [(e["kind"], e["payload"]["op"], e["node"]) for e in events] == [
        ("memory_write", "put", "remember"),
        ("memory_read", "get", "remember"),
        ("memory_write", "delete", "remember"),
        ("memory_read", "list_namespaces", "remember"),
    ]
    assert events[1]["payload"]["result"]["value"] == {"data": "hello"}
    assert events[3]["payload"]["result"] == [["alice", "memories"]]  # as the store listed


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
