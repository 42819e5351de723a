"""``lgaudit diff``: identical runs exit 0; different model answers name the divergence."""

from __future__ import annotations

import json

import pytest
from audit_graphs import answers, cfg, fan_graph, record_agent, runs_of
from click.testing import CliRunner

from lgaudit import Recorder, diff
from lgaudit.cli import cli
from lgaudit.demo import STAGING_INPUT, agent_builder, scripted_model, staging


@pytest.fixture
def rec(db_url: str):
    r = Recorder(db_url)
    yield r
    r.close()


def test_same_graph_same_input_is_identical(rec: Recorder, db_url: str) -> None:
    for t in ("s1", "s2"):
        rec.attach(staging()).invoke(dict(STAGING_INPUT), cfg(t))
    a1 = record_agent(rec, "a1", model=scripted_model(answers("done")))
    a2 = record_agent(rec, "a2", model=scripted_model(answers("done")))
    for t in ("f1", "f2"):  # Send tasks finish in any order: matched as a set
        rec.attach(fan_graph()).invoke({"topics": ["x", "y", "z"], "results": []}, cfg(t))
    pairs = [
        (runs_of(rec, "s1")[0], runs_of(rec, "s2")[0]),
        (a1[0], a2[0]),
        (a1[1], a2[1]),
        (runs_of(rec, "f1")[0], runs_of(rec, "f2")[0]),
    ]
    for a, b in pairs:
        result = CliRunner().invoke(cli, ["diff", a, b, "--json", "--db", db_url])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["identical"] is True and data["first_divergence"] is None
        assert data["steps"] and all(s["status"] == "same" for s in data["steps"])


def test_different_model_answer_names_the_first_divergence(rec: Recorder, db_url: str) -> None:
    a = record_agent(rec, "m1", model=scripted_model(answers("The report was sent.")))
    b = record_agent(rec, "m2", model=scripted_model(answers("I could not send it.")))
    result = CliRunner().invoke(cli, ["diff", a[1], b[1], "--json", "--db", db_url])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"identical", "first_divergence", "steps"}
    first = data["first_divergence"]
    assert set(first) == {"step", "node", "kind", "path", "a", "b"}
    assert (first["step"], first["node"], first["kind"]) == (4, "agent", "llm")
    assert first["a"] == "The report was sent." and first["b"] == "I could not send it."
    assert first["path"] == "llm[0].output[0].content"
    # the state difference that follows is reported too, after the cause
    step4 = next(s for s in data["steps"] if s["step"] == 4)
    assert [d["kind"] for d in step4["differences"]][-1] == "state"
    # ignoring the model's output and the state leaves the runs identical
    same = diff(rec.store, a[1], b[1], ignore=["llm[*].output", "state.messages"])
    assert same.identical and same.to_json()["first_divergence"] is None


def test_route_divergence_and_token_delta(rec: Recorder, db_url: str) -> None:
    a = record_agent(rec, "r1", model=scripted_model(answers("ok")))
    direct = scripted_model([answers("ok")[1]])  # answers at once: never asks for the tool
    graph = rec.attach(agent_builder(direct).compile())
    graph.invoke(
        {"messages": [("user", "Email the Q3 report to the CFO.")], "approved": False}, cfg("r2")
    )
    (b,) = runs_of(rec, "r2")
    result = diff(rec.store, a[0], b)
    assert not result.identical
    first = result.first_divergence
    assert first is not None and (first["step"], first["kind"]) == (1, "llm")
    step2 = next(s for s in result.steps if s["step"] == 2)
    assert step2["differences"][0]["kind"] == "route"
    assert step2["nodes"] == {"a": ["human_review"], "b": None}
    step1 = next(s for s in result.steps if s["step"] == 1)
    assert step1["tokens"] == {"a": 50, "b": 65, "delta": 15}


def test_diff_html_is_written(rec: Recorder, db_url: str, tmp_path) -> None:
    a = record_agent(rec, "h1", model=scripted_model(answers("<b>yes</b>")))
    b = record_agent(rec, "h2", model=scripted_model(answers("no")))
    page = tmp_path / "diff.html"
    result = CliRunner().invoke(cli, ["diff", a[1], b[1], "--html", str(page), "--db", db_url])
    assert result.exit_code == 1 and "first divergence: step 4, node agent, llm" in result.stdout
    text = page.read_text()
    assert "&lt;b&gt;yes&lt;/b&gt;" in text and "<b>yes</b>" not in text
