"""A wrong ``--graph MODULE:ATTR`` names the graphs the module has; runs record the import
path a replay needs (``graph_ref``), and ``show`` prints the replay command ready to run."""

from __future__ import annotations

import json
from pathlib import Path

import ref_graphs
from click.testing import CliRunner

from lgaudit import Recorder, Store
from lgaudit.cli import cli
from lgaudit.replay.spec import load_graph


def _record(url: str, graph: object, thread: str) -> str:
    with Recorder(url) as recorder:
        recorder.attach(graph).invoke({"n": 0}, {"configurable": {"thread_id": thread}})
        recorder.flush()
        return recorder.store.runs(thread_id=thread, limit=1)[0]["run_id"]


def test_a_wrong_graph_names_the_compiled_graphs_of_its_module(db_url: str, tmp_path: Path) -> None:
    run = _record(db_url, ref_graphs.counter, "t")
    suite = tmp_path / "suite.toml"
    suite.write_text(
        '[suite]\nname = "s"\ngraph = "lgaudit.demo:agent"\n\n'
        '[[scenario]]\nname = "one"\ninput = { n = 0 }\n'
    )
    wrong = ["--graph", "lgaudit.demo:staging_demo"]
    # replay and stage load --graph through one loader
    for verb in (["replay", run], ["stage", str(suite)]):
        out = CliRunner().invoke(cli, [*verb, "--db", db_url, *wrong])
        assert out.exit_code == 2, out.output
        assert out.stderr.strip().endswith(
            "lgaudit.demo has no attribute 'staging_demo'; "
            "its compiled graphs: agent, agent_fast_lane, agent_renamed_gate, staging"
        )
    out = CliRunner().invoke(cli, ["replay", run, "--db", db_url, "--graph", "ref_graphs:make"])
    assert out.exit_code == 2
    assert "not a zero-argument graph factory" in out.stderr
    out = CliRunner().invoke(cli, ["replay", run, "--db", db_url, "--graph", "ref_graphs:Count"])
    assert out.exit_code == 2
    # a builder-returning helper, a factory and a compiled graph: what --graph takes there
    assert out.stderr.strip().endswith(
        "its compiled graphs: counter, counter_factory, twin_a, twin_b"
    )
    out = CliRunner().invoke(cli, ["replay", run, "--db", db_url, "--graph", "json:nope"])
    assert "json has no attribute 'nope'; it has no compiled graph" in out.stderr


def test_runs_record_the_import_path_a_replay_needs(db_url: str) -> None:
    bound = _record(db_url, ref_graphs.counter, "bound")
    made = _record(db_url, ref_graphs.counter_factory(), "made")
    loaded = _record(db_url, load_graph("ref_graphs:twin_b"), "loaded")
    lost = _record(db_url, ref_graphs.twin_a(), "lost")
    builder = ref_graphs._builder()
    local = _record(db_url, builder.compile(), "local")
    with Store.open(db_url) as store:
        refs = {r["thread_id"]: r["graph_ref"] for r in store.runs(limit=None)}
        assert refs == {
            "bound": "ref_graphs:counter",  # the module global bound to the graph
            "made": "ref_graphs:counter_factory",  # the one factory naming the graph
            "loaded": "ref_graphs:twin_b",  # as --graph loaded it
            "lost": None,  # twin_a or twin_b: not known
            "local": None,
        }
        start = store.events(bound, kinds=["run_start"])[0]
        assert start["payload"]["graph_ref"] == "ref_graphs:counter"
        assert "graph_ref" not in store.events(local, kinds=["run_start"])[0]["payload"]

    shown = CliRunner().invoke(cli, ["show", made[:8], "--db", db_url])
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.stdout.splitlines() if x.startswith("replay: "))
    assert line == f"replay: lgaudit replay {made} --graph ref_graphs:counter_factory"
    doc = json.loads(CliRunner().invoke(cli, ["show", made, "--db", db_url, "--json"]).stdout)
    assert doc["run"]["graph_ref"] == "ref_graphs:counter_factory"
    # the printed command is ready to run, and the replay knows its import path exactly
    args = line.removeprefix("replay: lgaudit ").split()
    replayed = CliRunner().invoke(cli, [*args, "--db", db_url, "--json"])
    assert replayed.exit_code == 0, replayed.output
    replay_id = json.loads(replayed.stdout)["run_id"]
    listed = CliRunner().invoke(cli, ["runs", "--db", db_url, "--kind", "replay", "--json"])
    assert [(r["run_id"], r["graph_ref"]) for r in json.loads(listed.stdout)] == [
        (replay_id, "ref_graphs:counter_factory")
    ]
    for run in (lost, loaded):
        text = CliRunner().invoke(cli, ["show", run, "--db", db_url]).stdout
        assert (
            "--graph ref_graphs:twin_b" in text
            if run == loaded
            else (
                f"replay: lgaudit replay {run} --graph MODULE:ATTR" in text
                and "was not found when it ran" in text
            )
        )
