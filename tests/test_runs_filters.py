"""``lgaudit runs`` and ``Store.runs`` filter by graph, environment, kind and suite in the
store's query, list graph names whole, and say how many runs the limit left out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from click.testing import CliRunner

from lgaudit.cli import cli
from lgaudit.errors import BadInputError
from lgaudit.store import NewEvent, NewRun, Store

BASE = 1_765_000_000_000_000


def _run(
    store: Store,
    events: list[NewEvent],
    i: int,
    *,
    graph: str,
    environment: str | None = None,
    parent: str | None = None,
    replay: dict[str, Any] | None = None,
    graph_ref: str | None = None,
) -> str:
    run = NewRun(
        run_id=str(uuid.uuid4()),
        thread_id=f"thread-{i}",
        parent_run_id=parent,
        graph=graph,
        environment=environment,
        replay=replay,
        started_at=BASE + i,
    )
    start: dict[str, Any] = {"graph": graph}
    if graph_ref is not None:
        start["graph_ref"] = graph_ref
    events.append(NewEvent(run=run, kind="run_start", payload=start, ts=BASE + i))
    events.append(NewEvent(run=run, kind="run_end", payload={"status": "succeeded"}, ts=BASE + i))
    return run.run_id


@pytest.fixture
def kinds(store: Store) -> dict[str, list[str]]:
    """Runs of every kind, oldest first: recorded production traffic of two graphs, replays
    of it, stage cases (scenario and traffic) of two suites and a shadow case."""
    events: list[NewEvent] = []
    out: dict[str, list[str]] = {"recorded": [], "replay": [], "stage": [], "fast": []}

    def add(key: str, **kw: Any) -> str:
        run_id = _run(store, events, len(events), **kw)
        out[key].append(run_id)
        return run_id

    source = add("recorded", graph="approval_agent", environment="production",
                 graph_ref="app.agents:agent")  # fmt: skip
    add("recorded", graph="staging_demo", environment="staging")
    add("replay", graph="app.agents:agent", parent=source, replay={"cassette": "strict"})
    # a replay whose patch has a "stage" key is not a stage case
    add("replay", graph="app.agents:agent", parent=source,
        replay={"patch": {"stage": {"suite": "payments"}}, "cassette": "off"})  # fmt: skip
    add("stage", graph="approval_agent", environment="staging",
        replay={"stage": {"suite": "payments", "case": "refund", "kind": "scenario"}},
        graph_ref="app.agents:agent")  # fmt: skip
    add("stage", graph="app.agents:agent", environment="staging", parent=source,
        replay={"cassette": "strict", "stage": {"suite": "payments", "case": "t1",
                "kind": "traffic"}})  # fmt: skip
    add("fast", graph="app.agents:agent_fast_lane", environment="staging", parent=source,
        replay={"cassette": "strict", "stage": {"suite": "payments-fast", "case": "t1",
                "kind": "traffic"}})  # fmt: skip
    add("fast", graph="approval_agent", environment="staging",
        replay={"stage": {"suite": "payments-fast", "case": "refund", "kind": "scenario"}},
        graph_ref="app.agents:agent_fast_lane")  # fmt: skip
    store.append(events)
    out["stage"] += out.pop("fast")
    return out


def _ids(records: list[Any]) -> list[str]:
    return [r["run_id"] for r in records]


def _newest_first(ids: list[str]) -> list[str]:
    return list(reversed(ids))


def test_kind_filters_select_recorded_runs_replays_and_stage_cases(
    store: Store, kinds: dict[str, list[str]]
) -> None:
    for kind in ("recorded", "replay", "stage"):
        listed = store.runs(kind=kind, limit=None)
        assert _ids(listed) == _newest_first(kinds[kind]), kind
        assert {r["kind"] for r in listed} == {kind}
        assert store.count_runs(kind=kind) == len(kinds[kind])
    everything = store.runs(limit=None)
    assert len(everything) == sum(len(v) for v in kinds.values()) == store.count_runs()


def test_suite_filter_selects_the_cases_of_one_suite(
    store: Store, kinds: dict[str, list[str]]
) -> None:
    payments = store.runs(suite="payments", limit=None)
    assert _ids(payments) == _newest_first(kinds["stage"][:2])
    assert _ids(store.runs(suite="payments-fast", kind="stage", limit=None)) == _newest_first(
        kinds["stage"][2:]
    )
    assert store.runs(suite="nosuch", limit=None) == []
    with pytest.raises(BadInputError, match="--suite"):
        store.runs(suite="payments", kind="replay")
    with pytest.raises(BadInputError, match="recorded, replay, stage"):
        store.runs(kind="shadow")


def test_graph_filter_takes_a_name_or_an_import_path(
    store: Store, kinds: dict[str, list[str]]
) -> None:
    by_name = store.runs(graph="approval_agent", limit=None)
    assert len(by_name) == 3 and {r["graph"] for r in by_name} == {"approval_agent"}
    # the import path: recorded in run_start, or a replay's graph
    fast = store.runs(graph="app.agents:agent_fast_lane", limit=None)
    assert _ids(fast) == _newest_first(kinds["stage"][2:])
    assert {r["graph_ref"] for r in fast} == {"app.agents:agent_fast_lane"}
    agent = store.runs(graph="app.agents:agent", limit=None)
    assert len(agent) == 5 and "app.agents:agent_fast_lane" not in {r["graph_ref"] for r in agent}
    # LIKE's wildcards in a graph name are literal
    assert store.runs(graph="app.agents:agent%", limit=None) == []
    assert store.runs(graph="app_agents:agent", limit=None) == []
    staged = store.runs(graph="approval_agent", environment="staging", kind="stage", limit=None)
    assert len(staged) == 2
    assert _ids(store.runs(environment="production", limit=None)) == [kinds["recorded"][0]]


def test_runs_text_lists_graph_names_whole_and_how_many_more(
    store: Store, kinds: dict[str, list[str]]
) -> None:
    out = CliRunner().invoke(cli, ["runs", "--db", store.url, "--limit", "3"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert len(lines) == 1 + 3 + 1
    assert lines[-1] == "… 5 more runs; --limit 8 to see them"
    assert "approval_agent (app.agents:agent_fast_lane)" in lines[1]
    assert lines[2].endswith("  app.agents:agent_fast_lane")
    assert lines[3].endswith("  app.agents:agent")  # two names never read alike

    out = CliRunner().invoke(
        cli, ["runs", "--db", store.url, "--kind", "stage", "--suite", "payments-fast"]
    )
    assert out.exit_code == 0, out.output
    assert len(out.stdout.splitlines()) == 3 and "more" not in out.stdout
    out = CliRunner().invoke(cli, ["runs", "--db", store.url, "--graph", "nosuch"])
    assert out.stdout.strip() == "no runs match these filters"

    listed = json.loads(
        CliRunner()
        .invoke(cli, ["runs", "--db", store.url, "--kind", "replay", "--json", "--limit", "1"])
        .stdout
    )
    assert _ids(listed) == [kinds["replay"][-1]]  # --json is the list alone
    assert listed[0]["kind"] == "replay" and listed[0]["graph_ref"] == "app.agents:agent"


def test_runs_counts_no_further_than_it_needs(
    store: Store, kinds: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting every run of a status reads every run: past a bound the text says "at
    least" (10,000 runs past the page; 2 here)."""
    assert store.count_runs(at_most=3) == 3 and store.count_runs(kind="stage", at_most=99) == 4
    assert store.count_runs(status="succeeded", at_most=5) == 5
    monkeypatch.setattr("lgaudit.cli.runs.MORE_COUNTED", 2)
    out = CliRunner().invoke(cli, ["runs", "--db", store.url, "--limit", "3"])
    assert out.stdout.splitlines()[-1] == "… at least 2 more runs; --limit 5 to see them"
    out = CliRunner().invoke(cli, ["runs", "--db", store.url, "--limit", "6"])
    assert out.stdout.splitlines()[-1] == "… 2 more runs; --limit 8 to see them"


def test_the_count_of_more_runs_follows_a_status_filter(store: Store) -> None:
    events: list[NewEvent] = []
    for i in range(7):
        run = NewRun(run_id=str(uuid.uuid4()), thread_id="t", graph="g", started_at=BASE + i)
        events.append(NewEvent(run=run, kind="run_start", payload={}, ts=BASE + i))
        if i % 3 == 0:
            events.append(NewEvent(run=run, kind="run_error", payload={}, ts=BASE + i))
        else:
            status = "interrupted" if i % 3 == 1 else "succeeded"
            end = {"status": status, "output": {"status": "interrupted"}}  # only its own counts
            events.append(NewEvent(run=run, kind="run_end", payload=end, ts=BASE + i))
    store.append(events)
    assert store.count_runs(status="failed") == 3
    assert store.count_runs(status="interrupted") == 2
    assert store.count_runs(status="succeeded") == 2
    assert store.count_runs(status="running") == 0
    out = CliRunner().invoke(cli, ["runs", "--db", store.url, "--status", "failed", "--limit", "1"])
    assert out.stdout.splitlines()[-1] == "… 2 more runs; --limit 3 to see them"
