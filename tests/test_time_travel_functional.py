"""LangGraph's own time travel and the Functional API, recorded, replayed and diffed on
SQLite and PostgreSQL — written as LangGraph's how-tos write them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import shape_graphs as sg
from click.testing import CliRunner

from lgaudit import Recorder
from lgaudit.cli import cli


def lgaudit(db_url: str, *args: str) -> tuple[int, Any]:
    """Run a CLI verb with ``--json``: its exit code and its document."""
    res = CliRunner().invoke(cli, [*args, "--db", db_url, "--json"])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.stdout)


def thread_runs(db_url: str, thread: str) -> list[dict[str, Any]]:
    """The thread's runs, oldest first, as ``lgaudit runs --json`` lists them."""
    _, runs = lgaudit(db_url, "runs", "--thread", thread)
    return list(reversed(runs))


def first_divergence(db_url: str, a: str, b: str) -> tuple[int, Any]:
    code, data = lgaudit(db_url, "diff", a, b)
    assert data["identical"] is (code == 0)
    return code, data["first_divergence"]


# -- time travel (LangGraph's how-to) ------------------------------------------------------


async def _time_travel(graph: Any, config: dict[str, Any], use_async: bool) -> list[Any]:
    """The how-to, verbatim: run, pick the checkpoint before write_joke, fork it with a new
    topic and run the fork, then re-execute the unchanged checkpoint."""
    if use_async:
        original = await graph.ainvoke({}, config)
        states = [s async for s in graph.aget_state_history(config)]
    else:
        original = graph.invoke({}, config)
        states = list(graph.get_state_history(config))
    selected = next(s for s in states if s.next == ("write_joke",))
    assert selected.values == {"topic": "ice cream"}
    if use_async:
        new_config = await graph.aupdate_state(selected.config, values={"topic": "dogs"})
        fork = await graph.ainvoke(None, new_config)
        again = await graph.ainvoke(None, selected.config)
    else:
        new_config = graph.update_state(selected.config, values={"topic": "dogs"})
        fork = graph.invoke(None, new_config)
        again = graph.invoke(None, selected.config)
    return [original, fork, again]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_time_travel_fork_and_re_execution_diff_from_the_checkpoint(
    db_url: str, use_async: bool
) -> None:
    with Recorder(db_url) as rec:
        graph = rec.attach(sg.joke_graph())
        results = await _time_travel(graph, {"configurable": {"thread_id": "jokes"}}, use_async)
    original, fork, again = results
    assert original == {"topic": "ice cream", "joke": "Why did the ice cream cross the road?"}
    assert fork == {"topic": "dogs", "joke": "Why did the dogs cross the road?"}
    assert again == original
    runs = thread_runs(db_url, "jokes")
    assert [r["status"] for r in runs] == ["succeeded"] * 4
    first, update, forked, re_executed = (r["run_id"] for r in runs)
    _, shown = lgaudit(db_url, "show", update)
    (su,) = [e for e in shown["events"] if e["kind"] == "state_update"]
    assert su["payload"]["values"] == {"topic": "dogs"}

    # the fork differs first by the edited value, at the step it was edited: either order
    code, div = first_divergence(db_url, first, forked)
    assert code == 1
    assert (div["step"], div["kind"], div["path"]) == (1, "state", "state.topic")
    assert (div["a"], div["b"]) == ("ice cream", "dogs")
    code, div = first_divergence(db_url, forked, first)
    assert code == 1 and div["path"] == "state.topic"
    assert (div["a"], div["b"]) == ("dogs", "ice cream")
    # ... and write_joke, run after the edit, is compared with the original's write_joke
    _, data = lgaudit(db_url, "diff", first, forked)
    later = [s for s in data["steps"] if s["step"] == 2]
    assert [s["nodes"] for s in later] == [{"a": ["write_joke"], "b": ["write_joke"]}]
    assert {d["path"] for d in later[0]["differences"]} == {"state.joke", "state.topic"}
    # the update run alone: the edit, then nothing ran
    code, div = first_divergence(db_url, first, update)
    assert code == 1 and (div["path"], div["a"], div["b"]) == ("state.topic", "ice cream", "dogs")

    # re-executing an unchanged graph from the old checkpoint did what the original did
    assert first_divergence(db_url, first, re_executed) == (0, None)
    assert first_divergence(db_url, re_executed, first) == (0, None)
