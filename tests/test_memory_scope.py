"""``[memory] scope`` and ``[memory] namespace`` (SPEC "Memory and the live guard") — both
backends, real graphs with LangGraph's ``InMemoryStore``.

LangGraph's docs write a user's memories under ``(user_id, "memories")``, LangMem under
``("memories", user_id)``. ``scope = "user_id"`` takes the run's user anywhere in the
namespace (both shapes pass, another user's namespace does not); ``namespace = [...]`` pins
the exact shape (``{key}`` a configurable key of the run, ``*`` any one label).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from typing_extensions import TypedDict

from lgaudit import Policy, Recorder, Store, audit
from lgaudit.cli import cli


class Notes(TypedDict):
    note: str
    recalled: list[str]


def notes_graph(shape: str, *, peek_at: str | None = None) -> Any:
    """A node that puts, searches and gets the user's memory in namespace ``shape``
    (``docs``: ``(user_id, "memories")``, ``langmem``: ``("memories", user_id)``); with
    ``peek_at``, a second node that reads that user's LangMem-shaped memory too."""

    def remember(state: Notes, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
        user = config["configurable"]["user_id"]
        namespace = (user, "memories") if shape == "docs" else ("memories", user)
        store.put(namespace, "fact", {"text": state["note"]})
        found = store.search(namespace, query=state["note"])
        item = store.get(namespace, "fact")
        return {"recalled": [i.value["text"] for i in found] + [item.value["text"] if item else ""]}

    def peek(state: Notes, *, store: BaseStore) -> dict[str, Any]:
        assert peek_at is not None
        item = store.get(("memories", peek_at), "fact")
        return {"recalled": [*state["recalled"], item.value["text"] if item else ""]}

    builder = StateGraph(Notes)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    if peek_at:
        builder.add_node("peek", peek)
        builder.add_edge("remember", "peek")
    return builder.compile(store=InMemoryStore())


def record(db_url: str, graph: Any, user: str, thread: str) -> str:
    with Recorder(db_url) as rec:
        out = rec.attach(graph).invoke(
            {"note": f"{user} likes tea", "recalled": []},
            {"configurable": {"thread_id": thread, "user_id": user}},
        )
        rec.flush()
        assert out["recalled"][:2] == [f"{user} likes tea"] * 2
        return rec.store.runs(thread_id=thread, limit=1)[0]["run_id"]


@pytest.fixture
def runs(db_url: str) -> dict[str, str]:
    """Alice's runs in both namespace shapes, and one that also reads Bob's memory."""
    leaky = notes_graph("langmem", peek_at="bob")
    return {
        "docs": record(db_url, notes_graph("docs"), "alice", "alice-docs"),
        "langmem": record(db_url, notes_graph("langmem"), "alice", "alice-langmem"),
        "leak": record(db_url, leaky, "alice", "alice-leak"),
    }


def findings(db_url: str, run_ids: list[str], memory: dict[str, Any]) -> list[Any]:
    with Store.open(db_url) as store:
        report = audit(store, run_ids, Policy.from_dict({"memory": memory}))
    assert "memory.cross_scope" in report.rules
    return list(report.findings)


def test_scope_takes_the_users_key_anywhere_in_the_namespace(
    db_url: str, runs: dict[str, str]
) -> None:
    # both shapes hold alice's id: neither is cross-scope (LangMem's used to be)
    assert findings(db_url, [runs["docs"], runs["langmem"]], {"scope": "user_id"}) == []
    (leak,) = findings(db_url, [runs["leak"]], {"scope": "user_id"})
    assert (leak.rule, leak.run_id, leak.node) == ("memory.cross_scope", runs["leak"], "peek")
    assert "read namespace ('memories', 'bob') key 'fact'" in leak.message
    assert "user_id 'alice'" in leak.message


def test_namespace_pins_the_exact_shape(db_url: str, runs: dict[str, str], tmp_path: Path) -> None:
    langmem = {"namespace": ["memories", "{user_id}"]}
    assert findings(db_url, [runs["langmem"]], langmem) == []
    # the docs' shape holds alice's id too, but not where this policy wants it: each
    # operation on it is a finding
    wrong_shape = findings(db_url, [runs["docs"]], langmem)
    assert [(f.node, f.message.split(" namespace")[0]) for f in wrong_shape] == [
        ("remember", "node remember at step 1 wrote"),
        ("remember", "node remember at step 1 searched"),
        ("remember", "node remember at step 1 read"),
    ]
    assert all("not the run's namespace ('memories', 'alice')" in f.message for f in wrong_shape)
    (leak,) = findings(db_url, [runs["leak"]], langmem)
    assert leak.node == "peek" and "('memories', 'bob')" in leak.message

    # "*" is any one label: the user first, then anything
    docs_any = {"namespace": ["{user_id}", "*"]}
    assert findings(db_url, [runs["docs"]], docs_any) == []
    assert {f.node for f in findings(db_url, [runs["langmem"], runs["leak"]], docs_any)} == {
        "remember",
        "peek",
    }

    # a configurable key the run does not have scopes nothing in
    missing = findings(db_url, [runs["langmem"]], {"namespace": ["memories", "{org}"]})
    assert len(missing) == 3 and all(
        f.message.endswith(", but the run has no configurable 'org' for memory.namespace")
        for f in missing
    )

    # the same through the CLI's policy file
    policy = tmp_path / "memory.toml"
    policy.write_text('[memory]\nnamespace = ["memories", "{user_id}"]\n')
    result = CliRunner().invoke(
        cli,
        ["audit", runs["langmem"], runs["leak"], "--policy", str(policy), "--json", "--db", db_url],
    )
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["policy"] == str(policy)
    assert [(f["rule"], f["run_id"], f["node"]) for f in doc["findings"]] == [
        ("memory.cross_scope", runs["leak"], "peek")
    ]


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        ('namespace = "memories"', "memory.namespace must be a list of labels"),
        ("namespace = []", "memory.namespace must be a list of labels"),
        ('namespace = ["memories", 3]', "memory.namespace must be a list of labels"),
        ('namespace = ["memories", "{user_id"]', "memory.namespace label '{user_id'"),
        ('namespace = ["mem-{user_id}"]', "memory.namespace label 'mem-{user_id}'"),
        ('namespace = ["{}"]', "memory.namespace label '{}'"),
        ('namespace = ["user*"]', "memory.namespace label 'user*'"),
        (
            'scope = "user_id"\nnamespace = ["memories", "{user_id}"]',
            "give memory.scope (the key anywhere in the namespace) or memory.namespace",
        ),
    ],
)
def test_a_bad_memory_policy_is_one_line_exit_2(
    db_url: str, tmp_path: Path, memory: str, expected: str
) -> None:
    run_id = record(db_url, notes_graph("langmem"), "alice", "alice-1")
    policy = tmp_path / "bad.toml"
    policy.write_text(f"[memory]\n{memory}\n")
    runner = CliRunner()
    before = runner.invoke(cli, ["runs", "--json", "--db", db_url]).stdout
    result = runner.invoke(cli, ["audit", run_id, "--policy", str(policy), "--db", db_url])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert expected in line and str(policy) in line and "Traceback" not in result.output
    assert runner.invoke(cli, ["runs", "--json", "--db", db_url]).stdout == before
