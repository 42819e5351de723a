"""Bad input ``lgaudit stage`` and ``lgaudit shadow`` catch before any case runs: a missing,
unreadable or malformed suite file (said before LangGraph, LangChain or the ORM are
imported), a scenario ``input`` key the candidate's input schema lacks, a model of the
selected traffic with no price. One line naming the file and the key, exit 2, the store
unchanged — on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_probe import probe_cli
from click.testing import CliRunner
from helpers import snapshot
from langgraph.func import entrypoint
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import BaseModel
from replay_graphs import AGENT_INPUT, agent

from lgaudit import Recorder, stage
from lgaudit.cli import cli

HEAVY = ("langgraph", "langchain_core", "langchain", "sqlalchemy.orm")


class Order(BaseModel):
    order_id: int = 0
    note: str = ""


@dataclass
class Ticket:
    title: str = ""
    done: bool = False


def _one_node(schema: Any) -> Any:
    b = StateGraph(schema)
    b.add_node("work", lambda state: {})
    b.add_edge(START, "work")
    return b.compile()


def pydantic_graph() -> Any:
    return _one_node(Order)


def dataclass_graph() -> Any:
    return _one_node(Ticket)


def messages_graph() -> Any:
    return _one_node(MessagesState)


@entrypoint()
def echo(value: Any) -> Any:
    """A Functional API graph: its input is any value, so any key is its own."""
    return {"echo": value}


def _scenario_suite(tmp_path: Path, graph: str, inputs: str) -> str:
    path = tmp_path / f"{graph.rpartition(':')[2]}.toml"
    path.write_text(
        f"""
[suite]
name = "inputs"
graph = "{graph}"
[[scenario]]
name = "first"
input = {{ {inputs} }}
expect = {{ status = "succeeded" }}
[gate]
require = ["scenarios"]
""",
        encoding="utf-8",
    )
    return str(path)


@pytest.mark.parametrize(
    ("graph", "inputs", "key", "keys"),
    [
        ("replay_graphs:agent", 'msgs = [{ type = "human", content = "hi" }]', "msgs", "messages"),
        ("test_stage_input:messages_graph", 'message = "hi"', "message", "messages"),
        ("test_stage_input:pydantic_graph", "order = 42", "order", "note, order_id"),
        ("test_stage_input:dataclass_graph", 'name = "x"', "name", "done, title"),
        ("stage_graphs:payments", "amount = 5, amout = 5", "amout", "amount, approved, paid"),
    ],
)
def test_a_scenario_input_key_the_candidate_lacks_is_bad_input(
    db_url: str, tmp_path: Path, graph: str, inputs: str, key: str, keys: str
) -> None:
    with Recorder(db_url, environment="production") as rec:  # a store with runs in it
        rec.attach(agent()).invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    before = snapshot(db_url)
    path = _scenario_suite(tmp_path, graph, inputs)

    result = CliRunner().invoke(cli, ["stage", path, "--db", db_url])

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert path in line and f"scenario[0].input.{key}" in line and f"(its keys: {keys})" in line
    assert "Traceback" not in result.output
    assert snapshot(db_url) == before


@pytest.mark.parametrize(
    ("graph", "inputs"),
    [
        ("test_stage_input:pydantic_graph", 'order_id = 7, note = "rush"'),
        ("test_stage_input:dataclass_graph", 'title = "fix it"'),
        ("test_stage_input:echo", 'anything = "goes", at = "all"'),  # Functional API
    ],
)
def test_scenario_inputs_the_candidate_takes_run(
    db_url: str, tmp_path: Path, graph: str, inputs: str
) -> None:
    result = stage(_scenario_suite(tmp_path, graph, inputs), url=db_url)
    assert [c.outcome for c in result.cases] == ["passed"], [c.detail for c in result.cases]


PRICED = """
[suite]
name = "weather"
graph = "replay_graphs:agent"
[traffic]
environment = "production"
[envelope]
prices = {prices}
[gate]
require = ["traffic", "envelope"]
"""


def test_a_traffic_model_with_no_price_is_bad_input_before_any_case_runs(
    db_url: str, tmp_path: Path
) -> None:
    with Recorder(db_url, environment="production") as rec:
        rec.attach(agent()).invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    before = snapshot(db_url)
    path = tmp_path / "unpriced.toml"
    path.write_text(PRICED.format(prices='{ "other" = { input = 1, output = 1 } }'), "utf-8")

    result = CliRunner().invoke(cli, ["stage", str(path), "--db", db_url])

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "envelope.prices" in line and "'gpt-4o'" in line
    assert snapshot(db_url) == before  # no case ran: nothing recorded


def test_a_model_only_a_case_calls_still_fails_the_envelope_naming_it(
    db_url: str, tmp_path: Path
) -> None:
    """Prices are checked up front for the traffic's models; a model that only a case
    calls (a scenario's swap) is unknown until it runs: the envelope check names it."""
    text = """
[suite]
name = "swap"
graph = "replay_graphs:agent"
[[scenario]]
name = "cheap"
input = { messages = [{ type = "human", content = "Weather in Oslo?" }] }
models = { "gpt-4o" = "replay_graphs:cheap_model" }
[envelope]
prices = { "gpt-4o" = { input = 2.5, output = 10.0 } }
[gate]
require = ["envelope"]
"""
    path = tmp_path / "swap.toml"
    path.write_text(text, "utf-8")
    result = stage(str(path), url=db_url)
    assert result.verdict == "block"
    assert "no price for model(s) cheap-model" in result.check("envelope").detail


@pytest.mark.parametrize("verb", ["stage", "shadow"])
def test_a_missing_unreadable_or_malformed_suite_is_said_before_anything_heavy_is_imported(
    tmp_path: Path, verb: str
) -> None:
    (tmp_path / "bad.toml").write_text("[suite\nname = 'x'\n", encoding="utf-8")
    (tmp_path / "folder.toml").mkdir()
    cases = {
        "missing.toml": "not found",
        "bad.toml": "not valid TOML",
        "folder.toml": "cannot read suite file",
    }
    db = f"sqlite:///{tmp_path}/lgaudit.db"
    for name, words in cases.items():
        path = str(tmp_path / name)
        probe = probe_cli([verb, path, "--db", db], heavy=HEAVY, cwd=tmp_path)
        assert (probe["code"], probe["heavy"]) == (2, []), (name, probe)
        (line,) = probe["stderr"].strip().splitlines()
        assert path in line and words in line, line
    assert not (tmp_path / "lgaudit.db").exists()
