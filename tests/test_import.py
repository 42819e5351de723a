"""``lgaudit import FILE --from langsmith|langfuse``: exports made by the real SDKs around
real graph runs become recorded runs (chained, verified, imported once) that ``lgaudit
stage`` replays as ``[traffic]``; a file that is no such export exits 2 naming the line,
with the store unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import snapshot, tamper
from interop_exports import collect, langfuse_observations, write_langfuse, write_langsmith
from interop_graphs import fragile_agent, weather_entrypoint
from langchain_core.messages import HumanMessage
from replay_graphs import AGENT_INPUT, agent, subgraph_graph

from lgaudit import Store, replay, stage
from lgaudit.audit import diff
from lgaudit.cli import cli
from lgaudit.interop.importer import imported_run_id


def _runs() -> dict[str, list[Any]]:
    """LangChain's run collector around three real graph runs: a tool-calling agent, a
    graph with a subgraph, an agent whose tool fails."""
    return {
        "agent": collect(agent(), AGENT_INPUT, {"configurable": {"thread_id": "prod-7"}}),
        "nested": collect(subgraph_graph(), {"log": []}),
        "fragile": collect(fragile_agent(), {"messages": [HumanMessage("Weather in Oslo?")]}),
    }


def _import(db_url: str, path: Path, source: str, *extra: str) -> Any:
    return CliRunner().invoke(
        cli, ["import", str(path), "--from", source, "--json", *extra, "--db", db_url]
    )


def _check_run(store: Store, run_id: str, runs: list[Any], source: str) -> None:
    """The imported run has the collected run's nodes, model and tool calls, in order."""
    events = store.events(run_id)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_start" and kinds[1] == "checkpoint"
    assert kinds[-1] in ("run_end", "run_error")
    start = events[0]["payload"]
    root = runs[0]
    assert start["source"] == source
    assert start["original_ids"]["trace_id"] == str(root.trace_id)
    assert start["original_ids"]["id"] == str(root.id)
    nodes = [
        r
        for r in runs
        if r.run_type == "chain" and (r.extra.get("metadata") or {}).get("langgraph_node") == r.name
    ]
    node_events = [e for e in events if e["kind"] == "node_start"]
    assert [(e["node"], e["step"]) for e in node_events] == [
        (r.name, r.extra["metadata"]["langgraph_step"]) for r in nodes
    ]
    models = [r for r in runs if r.run_type in ("llm", "chat_model")]
    assert kinds.count("llm_start") == len(models)
    assert kinds.count("llm_end") + kinds.count("llm_error") == len(models)
    tools = [r for r in runs if r.run_type == "tool"]
    assert [e["payload"]["tool"] for e in events if e["kind"] == "tool_start"] == [
        t.name for t in tools
    ]
    assert kinds.count("tool_error") == len([t for t in tools if t.error])
    # model usage as recorded
    usage = [e["payload"]["usage"] for e in events if e["kind"] == "llm_end"]
    expected = [
        r.outputs["generations"][0][0]["message"].usage_metadata["total_tokens"]
        if not isinstance(r.outputs["generations"][0][0]["message"], dict)
        else r.outputs["generations"][0][0]["message"]["kwargs"]["usage_metadata"]["total_tokens"]
        for r in models
    ]
    assert [u["total_tokens"] for u in usage] == expected
    assert store.run(run_id)["tokens"] == sum(expected)


def test_langsmith_export_becomes_recorded_runs(db_url: str, tmp_path: Path) -> None:
    runs = _runs()
    files = {
        name: write_langsmith(found, tmp_path / f"{name}.jsonl", array=name == "nested")
        for name, found in runs.items()
    }
    ids = {}
    for name, path in files.items():
        result = _import(db_url, path, "langsmith", "--environment", "imported")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert len(doc["imported"]) == 1 and doc["already_imported"] == []
        ids[name] = doc["imported"][0]
        assert ids[name] == imported_run_id("langsmith", str(runs[name][0].id))
    with Store.open(db_url) as store:
        for name, run_id in ids.items():
            _check_run(store, run_id, runs[name], "langsmith")
            run = store.run(run_id)
            assert run["environment"] == "imported" and run["kind"] == "recorded"
        assert store.run(ids["agent"])["graph"] == "weather_agent"
        assert store.run(ids["agent"])["status"] == "succeeded"
        nested = store.events(ids["nested"], kinds=["node_start"])
        sub = next(e for e in nested if e["node"] == "sub")
        inner = [e for e in nested if e["node"].startswith("inner_")]
        assert inner and all(e["checkpoint_ns"] == f"sub:{sub['task_id']}" for e in inner)
        failed = store.events(ids["fragile"], kinds=["tool_error"])[0]["payload"]["error"]
        assert failed["type"] == "ValueError" and failed["message"] == "upstream down for Oslo"
        assert store.verify()["ok"]
        count = store.count_runs()
        before = snapshot(db_url)
    # imported again: nothing added
    again = _import(db_url, files["agent"], "langsmith", "--environment", "imported")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["already_imported"] == [ids["agent"]]
    assert snapshot(db_url) == before
    with Store.open(db_url) as store:
        assert store.count_runs() == count
        victim = store.events(ids["agent"], kinds=["llm_end"])[0]
    # imported events are in the hash chain: an edited one is found
    edited = json.dumps({**victim["payload"], "usage": {"total_tokens": 1}})
    tamper(
        db_url, [("UPDATE lgaudit_events SET payload = ? WHERE gseq = ?", [edited, victim["gseq"]])]
    )
    with Store.open(db_url) as store:
        found = store.verify()
    assert not found["ok"] and found["first_bad"]["run_id"] == ids["agent"]


STAGE_SUITE = """
[suite]
name = "{name}"
graph = "{graph}"

[traffic]
environment = "imported"
cassette = "strict"
{ignore}

[gate]
require = ["traffic"]
"""


def _stage(tmp_path: Path, db_url: str, graph: str, candidate: str, ignore: str = "") -> Any:
    path = tmp_path / f"suite-{graph.replace(':', '-')}.toml"
    path.write_text(STAGE_SUITE.format(name="imported", graph=graph, ignore=ignore))
    return stage(str(path), url=db_url, graph=candidate)


def test_imported_langsmith_runs_are_traffic(db_url: str, tmp_path: Path) -> None:
    runs = collect(agent(), AGENT_INPUT) + collect(
        agent(), {"messages": [HumanMessage("Weather in Oslo and Bergen, please?")]}
    )
    path = write_langsmith(runs, tmp_path / "runs.jsonl")
    assert _import(db_url, path, "langsmith", "--environment", "imported").exit_code == 0
    same = _stage(tmp_path, db_url, "replay_graphs:agent", "replay_graphs:agent")
    traffic = [c for c in same.cases if c.kind == "traffic"]
    assert len(traffic) == 2 and {c.outcome for c in traffic} == {"same"}, [
        (c.outcome, c.first_divergence, c.detail) for c in traffic
    ]
    assert same.check("traffic").ok
    with Store.open(db_url) as store:
        replayed = store.run(traffic[0].run_id)
        assert replayed["parent_run_id"] == traffic[0].source_run_id
        # every model and tool call was served by the imported run's recording
        served = [
            e["payload"]["served_by"] for e in store.events(replayed["run_id"], kinds=["llm_end"])
        ]
        assert served and set(served) == {"cassette"}
    changed = _stage(tmp_path, db_url, "replay_graphs:agent", "interop_graphs:briefed_agent")
    outcomes = {c.outcome for c in changed.cases if c.kind == "traffic"}
    assert outcomes == {"changed"} and not changed.check("traffic").ok
    # a change after the last model call: the imported run's output is what differs
    signed = _stage(tmp_path, db_url, "replay_graphs:agent", "interop_graphs:signed_agent")
    cases = [c for c in signed.cases if c.kind == "traffic"]
    assert {c.outcome for c in cases} == {"changed"}
    for c in cases:
        assert c.first_divergence is not None
        assert c.first_divergence["kind"] == "state"
        assert c.first_divergence["path"].startswith("output.messages")
        assert "(the weather bot)" in str(c.first_divergence["b"])


def test_imported_subgraph_and_tool_error_runs_replay_the_same(db_url: str, tmp_path: Path) -> None:
    runs = _runs()
    for name in ("nested", "fragile"):
        path = write_langsmith(runs[name], tmp_path / f"{name}.jsonl")
        assert _import(db_url, path, "langsmith", "--environment", "imported").exit_code == 0
    for graph in ("replay_graphs:subgraph_graph", "interop_graphs:fragile_agent"):
        name = "nested" if "subgraph" in graph else "fragile_agent"
        suite = STAGE_SUITE.format(name=name, graph=graph, ignore="").replace(
            'environment = "imported"', f'environment = "imported"\ngraph = "{name}"'
        )
        path = tmp_path / f"{name}.toml"
        path.write_text(suite)
        result = stage(str(path), url=db_url)
        traffic = [c for c in result.cases if c.kind == "traffic"]
        assert [c.outcome for c in traffic] == ["same"], [
            (c.outcome, c.first_divergence, c.detail) for c in traffic
        ]


def test_an_imported_functional_api_run_replays_from_its_recording(
    db_url: str, tmp_path: Path
) -> None:
    """An entrypoint called with a list (recorded by LangChain as ``{"input": [...]}``) and
    its ``@task`` calls: the replay gets the list, and every tool call is served."""
    from replay_graphs import CALLS

    runs = collect(weather_entrypoint(), ["Oslo", "Bergen"])
    path = write_langsmith(runs, tmp_path / "entrypoint.jsonl")
    result = _import(db_url, path, "langsmith", "--environment", "imported")
    assert result.exit_code == 0, result.output
    (run_id,) = json.loads(result.stdout)["imported"]
    with Store.open(db_url) as store:
        start = store.events(run_id, kinds=["run_start"])[0]["payload"]
        assert start["input"] == ["Oslo", "Bergen"]
    before = CALLS["tool"]
    replayed = replay(run_id, graph="interop_graphs:weather_entrypoint", url=db_url)
    assert replayed.status == "succeeded" and CALLS["tool"] == before  # nothing ran live
    # a task's return value is written to LangGraph's checkpoints, which no export holds
    assert diff(run_id, replayed.run_id, url=db_url, ignore=["return"]).identical


def test_an_interrupted_run_and_its_resume(db_url: str, tmp_path: Path) -> None:
    """A run stopped at ``interrupt()`` is imported ``interrupted`` with its interrupt; the
    resume (``Command(resume=...)``) is imported with its answer but is no traffic: its
    state is in LangGraph's checkpoints, not in the export."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command
    from stage_graphs import payments

    graph = payments().builder.compile(checkpointer=InMemorySaver(), name="payments")
    config = {"configurable": {"thread_id": "pay-50"}}
    runs = collect(graph, {"amount": 50}, config) + collect(graph, Command(resume="yes"), config)
    path = write_langsmith(runs, tmp_path / "payments.jsonl")
    result = _import(db_url, path, "langsmith", "--environment", "imported")
    assert result.exit_code == 0, result.output
    asked, resumed = json.loads(result.stdout)["imported"]
    with Store.open(db_url) as store:
        assert store.run(asked)["status"] == "interrupted"
        (interrupt,) = store.events(asked, kinds=["interrupt"])
        assert interrupt["node"] == "human_review" and interrupt["payload"]["value"] == {"pay": 50}
        assert store.run(resumed)["status"] == "succeeded"
        assert [e["payload"]["value"] for e in store.events(resumed, kinds=["resume"])] == ["yes"]
        assert not store.has_event(resumed, "checkpoint")
    suite = tmp_path / "payments.toml"
    suite.write_text(STAGE_SUITE.format(name="payments", graph="stage_graphs:payments", ignore=""))
    same = stage(str(suite), url=db_url)
    traffic = [c for c in same.cases if c.kind == "traffic"]
    assert [(c.source_run_id, c.outcome) for c in traffic] == [(asked, "same")]
    changed = stage(str(suite), url=db_url, graph="stage_graphs:payments_fast_lane")
    (case,) = [c for c in changed.cases if c.kind == "traffic"]
    assert case.outcome == "changed" and case.first_divergence["kind"] == "route"


def test_langfuse_observations_become_recorded_runs_and_traffic(
    db_url: str, tmp_path: Path
) -> None:
    runs = collect(agent(), AGENT_INPUT, {"configurable": {"thread_id": "lf-1"}})
    observations = langfuse_observations(runs)
    assert {o.type for o in observations} == {"SPAN", "GENERATION", "TOOL"}
    jsonl = write_langfuse(observations, tmp_path / "observations.jsonl")
    result = _import(db_url, jsonl, "langfuse", "--environment", "imported")
    assert result.exit_code == 0, result.output
    (run_id,) = json.loads(result.stdout)["imported"]
    with Store.open(db_url) as store:
        _check_run(store, run_id, runs, "langfuse")
        llm = store.events(run_id, kinds=["llm_end"])
        assert [e["payload"]["usage"]["input_tokens"] for e in llm] == [10, 20, 30]
        assert store.verify()["ok"]
    # the API's response shape ({"data": [...]}) of the same observations adds nothing
    api = write_langfuse(observations, tmp_path / "observations.json", jsonl=False)
    again = _import(db_url, api, "langfuse")
    assert json.loads(again.stdout)["already_imported"] == [run_id]
    # the API without parse_io_as_json: input, output and metadata values as text
    other = collect(agent(), {"messages": [HumanMessage("Weather in Bergen and Oslo?")]})
    rows = [o.model_dump(mode="json", by_alias=True, exclude_none=True) for o in
            langfuse_observations(other)]  # fmt: skip
    for row in rows:
        row["metadata"] = {k: json.dumps(v) if not isinstance(v, str) else v
                           for k, v in row["metadata"].items()}  # fmt: skip
        for key in ("input", "output"):
            if key in row and not isinstance(row[key], str):
                row[key] = json.dumps(row[key])
    texts = tmp_path / "text.jsonl"
    texts.write_text("\n".join(json.dumps(r) for r in rows))
    result = _import(db_url, texts, "langfuse", "--environment", "imported")
    assert result.exit_code == 0, result.output
    (second,) = json.loads(result.stdout)["imported"]
    with Store.open(db_url) as store:
        _check_run(store, second, other, "langfuse")
    # Langfuse keeps only some of a model's parameters: a stage ignores them
    ignore = 'ignore = ["llm[*].params"]'
    same = _stage(tmp_path, db_url, "replay_graphs:agent", "replay_graphs:agent", ignore)
    assert [c.outcome for c in same.cases if c.kind == "traffic"] == ["same", "same"], [
        (c.outcome, c.first_divergence) for c in same.cases
    ]
    changed = _stage(
        tmp_path, db_url, "replay_graphs:agent", "interop_graphs:briefed_agent", ignore
    )
    assert [c.outcome for c in changed.cases if c.kind == "traffic"] == ["changed", "changed"]


def test_a_langfuse_tool_error_replays_the_same(db_url: str, tmp_path: Path) -> None:
    """Langfuse keeps a failed tool's message, not its type: the type comes back from the
    error ToolNode handed the model, so the replay raises what the original raised."""
    runs = collect(fragile_agent(), {"messages": [HumanMessage("Weather in Oslo?")]})
    path = write_langfuse(langfuse_observations(runs), tmp_path / "fragile.jsonl")
    assert '"statusMessage": "upstream down for Oslo"' in path.read_text()
    result = _import(db_url, path, "langfuse", "--environment", "imported")
    assert result.exit_code == 0, result.output
    (run_id,) = json.loads(result.stdout)["imported"]
    with Store.open(db_url) as store:
        (failed,) = store.events(run_id, kinds=["tool_error"])
    assert failed["payload"]["error"]["type"] == "ValueError"
    assert failed["payload"]["error"]["message"] == "upstream down for Oslo"
    suite = tmp_path / "fragile.toml"
    suite.write_text(
        STAGE_SUITE.format(
            name="fragile",
            graph="interop_graphs:fragile_agent",
            ignore='ignore = ["llm[*].params"]',
        )
    )
    result = stage(str(suite), url=db_url)
    assert [c.outcome for c in result.cases if c.kind == "traffic"] == ["same"], [
        (c.outcome, c.first_divergence, c.detail) for c in result.cases
    ]


@pytest.mark.parametrize("source", ["langsmith", "langfuse"])
def test_a_file_that_is_no_such_export_exits_2_naming_the_line(
    db_url: str, tmp_path: Path, source: str
) -> None:
    runs = collect(agent(), AGENT_INPUT)
    good = (
        write_langsmith(runs, tmp_path / "good.jsonl")
        if source == "langsmith"
        else write_langfuse(langfuse_observations(runs), tmp_path / "good.jsonl")
    )
    lines = good.read_text().splitlines()
    # something is in the store already: a refused file must leave it exactly as it was
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(lines) + "\n")
    assert _import(db_url, first, source).exit_code == 0
    before = snapshot(db_url)
    other = collect(agent(), {"messages": [HumanMessage("Weather in Tromsø?")]})
    fresh = (
        write_langsmith(other, tmp_path / "fresh.jsonl")
        if source == "langsmith"
        else write_langfuse(langfuse_observations(other), tmp_path / "fresh.jsonl")
    )
    fresh_lines = fresh.read_text().splitlines()
    kind_key = "run_type" if source == "langsmith" else "type"
    unknown = [json.loads(x) for x in fresh_lines]
    unknown[3][kind_key] = "teleport"
    cases = {
        "truncated.jsonl": ("\n".join(fresh_lines)[:-40], f":{len(fresh_lines)}:"),
        "unknown.jsonl": ("\n".join(json.dumps(x) for x in unknown), ":4: unknown"),
        "notes.txt": ("these are my notes\nnot an export\n", ":1: not a JSON record"),
        "other.json": ('{"hello": "world"}', ":1: not a"),
        "empty.jsonl": ("", "empty file"),
    }
    for name, (text, said) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = _import(db_url, path, source)
        assert result.exit_code == 2, (name, result.output)
        assert said in result.stderr and name in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert snapshot(db_url) == before, name
    # a record listed twice with different content: refused; listed twice the same: read once
    twice = tmp_path / "twice.jsonl"
    changed_again = dict(unknown[2], name="renamed")
    twice.write_text("\n".join([*fresh_lines, json.dumps(changed_again)]))
    result = _import(db_url, twice, source)
    assert result.exit_code == 2 and f":{len(fresh_lines) + 1}: record" in result.stderr
    assert "appears twice" in result.stderr and snapshot(db_url) == before
    overlap = tmp_path / "overlap.jsonl"
    overlap.write_text("\n".join([*fresh_lines, *fresh_lines[2:5]]))
    result = _import(db_url, overlap, source)
    assert result.exit_code == 0 and len(json.loads(result.stdout)["imported"]) == 1
    before = snapshot(db_url)
    # a LangSmith file read as Langfuse (and the reverse) is no such export either
    wrong = "langfuse" if source == "langsmith" else "langsmith"
    result = _import(db_url, fresh, wrong)
    assert result.exit_code == 2 and ":1: not a" in result.stderr
    missing = _import(db_url, tmp_path / "nowhere.jsonl", source)
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    assert snapshot(db_url) == before


def test_imported_values_are_redacted(db_url: str, tmp_path: Path) -> None:
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    runs = collect(agent(), {"messages": [HumanMessage(f"Weather? my key is {secret}")]})
    path = write_langsmith(runs, tmp_path / "leaky.jsonl")
    assert secret in path.read_text()
    result = _import(db_url, path, "langsmith")
    assert result.exit_code == 0, result.output
    assert secret not in str(snapshot(db_url))
    (run_id,) = json.loads(result.stdout)["imported"]
    shown = CliRunner().invoke(cli, ["show", run_id, "--json", "--db", db_url]).stdout
    assert secret not in shown and "my key is [REDACTED]" in shown
