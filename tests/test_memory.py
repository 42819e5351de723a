"""Long-term memory recorded and audited — both backends.

A graph's LangGraph store (``compile(store=...)``, or ``Recorder(store=...)``) is recorded
as ``memory_read``/``memory_write`` events: shown, blamed, redacted, and audited by rule
``memory.cross_scope``. The agent is ``memory_graphs.call_model``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore, ListNamespacesOp, PutOp
from langgraph.store.memory import InMemoryStore
from memory_graphs import (
    chat_graph,
    memories,
    memory_events,
    memory_store_fixture,  # noqa: F401 - the fixture memory_store
    run_of,
    say,
)
from test_redaction import raw_database

from lgaudit import Policy, Recorder, Store, audit, diff, replay
from lgaudit.audit.report import render_report
from lgaudit.cli import cli


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

    # a replay (and a replay of it) is scoped by the user of the run it replays
    again = replay(alice, graph=chat_graph(live, call_model_cached), url=db_url)
    assert again.status == "succeeded", again.error
    twice = replay(again.run_id, graph=chat_graph(live, call_model_cached), url=db_url)
    with Store.open(db_url) as store:
        found = audit(store, [again.run_id, twice.run_id], policy).findings
    assert [f.run_id for f in found] == [again.run_id, twice.run_id]
    assert all(f.rule == "memory.cross_scope" and "user_id 'alice'" in f.message for f in found), (
        found
    )

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

    # a store a server gives the recorded graph when it runs it (``graph.copy(update=...)``,
    # as LangGraph's server does) is the one used and recorded
    served, unused = InMemoryStore(), InMemoryStore()
    with Recorder(db_url, store=unused) as rec:
        graph = rec.attach(builder.compile()).copy(update={"store": served})
        say(graph, "hi", "alice-2", "alice")
        rec.flush()
        assert len(memory_events(rec.store, run_of(rec.store, "alice-2"))) == 4
    assert served.list_namespaces() == [("alice", "memories")]
    assert unused.list_namespaces() == []
