"""The read verbs' outputs are pinned: on a store recorded once (``tests/data/pinned``: the
demo's runs, a mutating and a clean graph, a ``Send`` fan-out, subgraphs, two agents whose
answers differ, growing and tool-calling benchmark graphs, a time-travel branch), ``diff``
(text, ``--json``, ``--html``), ``audit --json``, ``show``/``show --json``, ``export``,
``blame`` and ``report --html`` print byte for byte what they printed before they compared
and expanded values by blob address (the outputs were written by that code).

Regenerate (only when an output is meant to change): ``python tests/test_pinned_outputs.py``.
"""

from __future__ import annotations

import json
import operator
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

from click.testing import CliRunner

from lgaudit.cli import cli

DATA = Path(__file__).resolve().parent / "data" / "pinned"
FILE = "{out}"  # an --html argument: the file it names is compared too


def _cases(runs: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(name, argv) of every pinned output; ``runs`` names the recorded runs."""
    r = runs
    cases: list[tuple[str, list[str]]] = []
    pairs = [
        ("items", "items_mutate", "items_clean"),
        ("agents", "agent_done", "agent_other"),
        ("growing", "growing_a", "growing_b"),
        ("growing_changed", "growing_a", "growing_c"),
        ("notes", "notes_a", "notes_b"),
        ("tools", "tools_a", "tools_b"),
        ("fan", "fan_a", "fan_b"),
        ("branch", "branch_first", "branch_second"),
        ("demo", "staging", "agent_resume"),
    ]
    for name, a, b in pairs:
        cases.append((f"diff_{name}", ["diff", r[a], r[b]]))
        cases.append((f"diff_{name}_json", ["diff", "--json", r[a], r[b]]))
        cases.append((f"diff_{name}_html", ["diff", r[a], r[b], "--html", FILE]))
    for key, run in sorted(r.items()):
        cases.append((f"audit_{key}", ["audit", "--json", run]))
        cases.append((f"show_{key}", ["show", "--json", run]))
    for key in ("items_mutate", "agent_done", "growing_a", "subgraph", "branch_second"):
        cases.append((f"show_text_{key}", ["show", r[key]]))
        cases.append((f"export_{key}", ["export", r[key]]))
        cases.append((f"report_{key}", ["report", r[key], "--html", FILE]))
    cases.append(("audit_all", ["audit", "--all", "--json"]))
    cases.append(("audit_pair", ["audit", "--json", r["growing_a"], r["growing_c"]]))
    cases.append(("report_against", ["report", r["agent_done"], "--against", r["agent_other"],
                                      "--html", FILE]))  # fmt: skip
    cases.append(("blame_items", ["blame", r["items_mutate"], "items"]))
    cases.append(("blame_messages", ["blame", r["growing_c"], "messages"]))
    cases.append(("blame_agent", ["blame", r["agent_other"], "messages"]))
    return cases


def _run(args: list[str], url: str, out: Path) -> bytes:
    argv = [str(out) if a == FILE else a for a in args]
    result = CliRunner().invoke(cli, ["--db", url, *argv], catch_exceptions=False)
    text = f"exit {result.exit_code}\n".encode() + result.stdout_bytes
    if FILE in args:
        text += b"\n--- file ---\n" + out.read_bytes()
    return text.replace(str(out).encode(), FILE.encode())


def test_read_verbs_print_what_they_printed_before(tmp_path: Path) -> None:
    assert (DATA / "store.db").exists(), "no pinned store: run python tests/test_pinned_outputs.py"
    store = tmp_path / "store.db"
    shutil.copy(DATA / "store.db", store)
    url = f"sqlite:///{store}"
    # recorded at an older schema: upgraded as a user's store is, which adds tables only
    upgraded = CliRunner().invoke(cli, ["--db", url, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    runs = json.loads((DATA / "runs.json").read_text())
    changed = []
    for name, args in _cases(runs):
        got = _run(args, url, tmp_path / f"{name}.html")
        want = (DATA / f"{name}.out").read_bytes()
        if got != want:
            changed.append(name)
    assert changed == []


# -- recording the pinned store (run this file) -------------------------------------------


def _record(url: str) -> dict[str, str]:
    from audit_graphs import (
        answers,
        cfg,
        fan_graph,
        items_graph,
        record_agent,
        runs_of,
        subgraph_graph,
    )
    from helpers import record_demo_runs
    from langgraph.checkpoint.memory import InMemorySaver

    from benchmarks.workloads import _loop_builder, agent, growing
    from lgaudit import Recorder
    from lgaudit.demo import scripted_model

    runs: dict[str, str] = {}
    demo = record_demo_runs(url)  # newest first: the resume, the interrupt, the loop
    runs.update(agent_resume=demo[0]["run_id"], agent_ask=demo[1]["run_id"])
    runs["staging"] = demo[2]["run_id"]
    with Recorder(url, environment="pinned") as rec:
        for key, mutate in (("items_mutate", True), ("items_clean", False)):
            rec.attach(items_graph(mutate=mutate)).invoke({"items": [], "other": 0}, cfg(key))
            runs[key] = runs_of(rec, key)[-1]
        for key in ("fan_a", "fan_b"):
            rec.attach(fan_graph()).invoke({"topics": ["x", "y"], "results": []}, cfg(key))
            runs[key] = runs_of(rec, key)[-1]
        rec.attach(subgraph_graph()).invoke({"items": []}, cfg("subgraph"))
        runs["subgraph"] = runs_of(rec, "subgraph")[-1]
        for key, final in (("agent_done", "Sent."), ("agent_other", "Could not send.")):
            runs[key] = record_agent(rec, key, model=scripted_model(answers(final)))[-1]
        for key, odd in (("notes_a", None), ("notes_b", 4)):
            rec.attach(_notes(odd)).invoke({"notes": [], "n": 0}, cfg(key))
            runs[key] = runs_of(rec, key)[-1]
        for key, steps in (("growing_a", 12), ("growing_b", 12)):
            w = growing(steps)
            rec.attach(w.build(None)).invoke(w.input(), w.config(key))
            runs[key] = runs_of(rec, key)[-1]
        # the growing loop approving one iteration later: it runs on where the others end
        changed = _loop_builder(5, grow=True).compile()
        rec.attach(changed).invoke(growing(12).input(), growing(15).config("growing_c"))
        runs["growing_c"] = runs_of(rec, "growing_c")[-1]
        for key in ("tools_a", "tools_b"):
            w = agent(12)
            rec.attach(w.build(None)).invoke(w.input(), w.config(key))
            runs[key] = runs_of(rec, key)[-1]
        # time travel: run, then update the state at an old checkpoint and run on from there
        graph = rec.attach(items_graph(mutate=False).builder.compile(checkpointer=InMemorySaver()))
        thread = cfg("branch")
        graph.invoke({"items": [], "other": 0}, thread)
        runs["branch_first"] = runs_of(rec, "branch")[-1]
        old = [s for s in graph.get_state_history(thread) if s.next == ("touch",)][0]
        fork = graph.update_state(old.config, {"items": ["b"]})
        graph.invoke(None, fork)
        runs["branch_second"] = runs_of(rec, "branch")[-1]
    return runs


class Notes(TypedDict):
    notes: Annotated[list, operator.add]
    n: int


def _notes(odd: int | None) -> Any:
    """A loop adding one note a step to a growing list (and a dict of them), the note of
    step ``odd`` worded differently: every later state differs in that one item."""
    from langgraph.graph import END, START, StateGraph

    def note(state: Notes) -> dict[str, Any]:
        n = state["n"] + 1
        text = f"note {n}" + (" (reworded)" if n == odd else "")
        return {"notes": [{"n": n, "text": text, "tags": ["a", str(n % 3)]}], "n": n}

    b = StateGraph(Notes)
    b.add_node("note", note)
    b.add_edge(START, "note")
    b.add_conditional_edges("note", lambda s: END if s["n"] >= 9 else "note", ["note", END])
    return b.compile()


def regenerate() -> None:
    """Record the pinned store and write every case's output with the code as it is."""
    sys.path[:0] = [str(DATA.parents[1]), str(DATA.parents[2])]
    if DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir(parents=True)
    url = f"sqlite:///{DATA / 'store.db'}"
    runs = _record(url)
    with sqlite3.connect(DATA / "store.db") as conn:
        conn.execute("VACUUM")
    shutil.rmtree(DATA / "store.db.lgaudit-live", ignore_errors=True)
    (DATA / "runs.json").write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    scratch = DATA / "scratch"
    scratch.mkdir()
    for name, args in _cases(runs):
        (DATA / f"{name}.out").write_bytes(_run(args, url, scratch / f"{name}.html"))
    shutil.rmtree(scratch)
    print(f"{len(_cases(runs))} outputs pinned in {DATA}")


if __name__ == "__main__":
    regenerate()
