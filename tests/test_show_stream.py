"""``lgaudit show`` and ``lgaudit export`` read a run a batch at a time and write as they
read: a run of many batches comes out whole, each event exactly once, in order, with its
values expanded, and the same as the run read in one piece."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from click.testing import CliRunner
from langgraph.graph import END, START, StateGraph

from lgaudit import Recorder, Store
from lgaudit.cli import cli
from lgaudit.store import store as store_module

STEPS = 40
BATCH = 7  # a small batch: the run spans many of them, and batch edges fall everywhere


class Count(TypedDict):
    n: int
    seen: list[int]


def _tick(state: Count) -> dict[str, Any]:
    return {"n": state["n"] + 1, "seen": [*state["seen"], state["n"]]}


def _loop() -> Any:
    g = StateGraph(Count)
    g.add_node("tick", _tick)
    g.add_edge(START, "tick")
    g.add_conditional_edges("tick", lambda s: END if s["n"] >= STEPS else "tick")
    return g


def _record(url: str) -> str:
    with Recorder(url) as rec:
        graph = rec.attach(_loop().compile())
        graph.invoke({"n": 0, "seen": []}, {"configurable": {"thread_id": "long"}})
        rec.flush()
        return rec.store.runs(limit=1)[0]["run_id"]


def test_a_run_of_many_batches_is_shown_and_exported_whole_and_in_order(
    db_url: str, monkeypatch: Any
) -> None:
    run_id = _record(db_url)
    monkeypatch.setattr(store_module, "EVENT_BATCH", BATCH)
    with Store.open(db_url) as store:
        events = store.events(run_id)
        batches = list(store.event_batches(run_id))
        shown = store.show(run_id)
    n = len(events)
    assert n > 10 * BATCH
    assert [len(b) for b in batches] == [BATCH] * (n // BATCH) + ([n % BATCH] if n % BATCH else [])
    assert [e for b in batches for e in b] == events
    assert [e["seq"] for e in events] == list(range(1, n + 1))

    out = CliRunner().invoke(cli, ["export", run_id[:8], "--db", db_url])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, n + 1))
    assert lines == json.loads(json.dumps(shown["events"], default=str))
    # values are expanded: the last checkpoint holds the whole count
    last = [e for e in lines if e["kind"] == "checkpoint"][-1]
    assert last["payload"]["values"]["seen"] == list(range(STEPS))

    out = CliRunner().invoke(cli, ["show", "--json", run_id, "--db", db_url])
    assert out.exit_code == 0, out.output
    assert out.output == json.dumps(shown, indent=2, default=str, ensure_ascii=False) + "\n"

    text = CliRunner().invoke(cli, ["show", run_id, "--db", db_url]).output
    assert f"{n} events" in text
    assert text.count("node tick started") == STEPS


def test_show_json_of_an_unknown_run_is_one_line_and_exit_2(db_url: str) -> None:
    _record(db_url)
    for verb in (["show", "--json"], ["export"], ["show"]):
        out = CliRunner().invoke(cli, [*verb, "no-such-run", "--db", db_url])
        assert out.exit_code == 2, (verb, out.output)
        assert len(out.output.strip().splitlines()) == 1, (verb, out.output)
