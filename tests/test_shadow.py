"""``lgaudit shadow``: new production runs replayed on a candidate as they land, with a
rolling verdict, stored progress and shared work — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import shadow_graphs
from click.testing import CliRunner
from helpers import snapshot, tamper
from replay_graphs import AGENT_INPUT, CALLS, agent

from lgaudit import Recorder, Store
from lgaudit.cli import cli
from lgaudit.stage.shadow import ShadowResult, shadow

TESTS = Path(__file__).parent

SUITE = """
[suite]
name = "greeter-v2"
graph = "shadow_graphs:greeter_changed"

[traffic]
environment = "production"
graph = "greeter"
cassette = "{cassette}"
"""

RECORD_IN_ANOTHER_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
import shadow_graphs
from lgaudit import Recorder

with Recorder(sys.argv[1], environment="production") as recorder:
    graph = recorder.attach(shadow_graphs.greeter())
    for name in sys.argv[2:]:
        graph.invoke({{"name": name}})
"""


def _suite(tmp_path: Path, cassette: str = "strict", text: str = SUITE) -> str:
    path = tmp_path / f"shadow-{cassette}.toml"
    path.write_text(text.format(cassette=cassette), encoding="utf-8")
    return str(path)


def _record_elsewhere(url: str, *names: str) -> None:
    script = RECORD_IN_ANOTHER_PROCESS.format(tests=str(TESTS))
    done = subprocess.run(
        [sys.executable, "-c", script, url, *names], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _record_here(url: str, *names: str) -> None:
    with Recorder(url, environment="production") as recorder:
        graph = recorder.attach(shadow_graphs.greeter())
        for name in names:
            graph.invoke({"name": name})


def _sources(url: str) -> dict[str, str]:
    """Recorded production runs: run id -> the name it greeted."""
    with Store.open(url) as store:
        return {
            r["run_id"]: store.events(r["run_id"], kinds=["run_start"])[0]["payload"]["input"][
                "name"
            ]
            for r in store.runs(limit=None)
            if r["environment"] == "production"
        }


def test_shadow_follows_runs_recorded_by_another_process_and_resumes(
    db_url: str, tmp_path: Path
) -> None:
    _record_here(db_url, "zoe")  # before the shadow starts: traffic too
    path = _suite(tmp_path)
    results: list[ShadowResult] = []
    follower = threading.Thread(
        target=lambda: results.append(shadow(path, url=db_url, follow=True, max_runs=4, poll_s=0.1))
    )
    follower.start()
    _record_elsewhere(db_url, "ann", "bob", "cy")
    follower.join(timeout=180)
    assert not follower.is_alive(), "the shadow did not see the new runs"
    (result,) = results
    names = _sources(db_url)
    assert [names[c.source_run_id] for c in result.cases] == ["zoe", "ann", "bob", "cy"]
    outcomes = {names[c.source_run_id]: c.outcome for c in result.cases}
    assert outcomes == {"zoe": "same", "ann": "same", "bob": "changed", "cy": "same"}
    bob = next(c for c in result.cases if c.outcome == "changed")
    assert bob.first_divergence is not None and "greeting" in bob.first_divergence["path"]
    assert result.verdict == "block" and result.replayed == 4
    assert "1 regression(s) in 4 shadowed runs" in result.checks[0].detail
    assert bob.source_run_id[:12] in result.checks[0].detail

    # restarted: nothing new, nothing replayed twice; the verdict still counts bob
    again = shadow(path, url=db_url)
    assert again.cases == () and again.replayed == 4 and again.verdict == "block"
    _record_elsewhere(db_url, "dee")
    later = CliRunner().invoke(cli, ["shadow", path, "--json", "--db", db_url])
    assert later.exit_code == 1, later.output  # block: bob's regression stands
    doc = json.loads(later.stdout)
    assert [c["outcome"] for c in doc["cases"]] == ["same"] and doc["replayed"] == 5
    assert set(doc["cases"][0]) >= {"case", "kind", "run_id", "source_run_id", "outcome"}
    with Store.open(db_url) as store:
        replays = [r for r in store.runs(limit=None) if r["parent_run_id"]]
        assert len(replays) == 5  # one replay per production run, ever
        assert all(r["replay"]["tools"] == "recording" for r in replays)
        assert store.verify()["ok"]


def test_shadow_never_calls_a_tool_live(db_url: str, tmp_path: Path) -> None:
    with Recorder(db_url, environment="production") as recorder:
        recorder.attach(agent()).invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    text = SUITE.replace('graph = "greeter"\n', "").replace(
        "shadow_graphs:greeter_changed", "replay_graphs:agent"
    )
    CALLS.clear()
    result = shadow(_suite(tmp_path, "off", text), url=db_url)
    assert CALLS["tool"] == 0  # the suite's cassette is off: models ran live, tools did not
    assert CALLS["model"] == 3
    assert [c.outcome for c in result.cases] == ["same"] and result.verdict == "promote"


def test_two_shadows_share_the_work_without_doing_a_run_twice(db_url: str, tmp_path: Path) -> None:
    _record_here(db_url, *(f"user-{i}" for i in range(8)))
    path = _suite(tmp_path)
    results: list[ShadowResult] = []
    shadows = [
        threading.Thread(target=lambda: results.append(shadow(path, url=db_url))) for _ in range(2)
    ]
    for t in shadows:
        t.start()
    for t in shadows:
        t.join(timeout=180)
    done = [c.source_run_id for r in results for c in r.cases]
    assert sorted(done) == sorted(_sources(db_url))  # each run once, by one of them
    with Store.open(db_url) as store:
        assert len([r for r in store.runs(limit=None) if r["parent_run_id"]]) == 8


def test_a_tampered_progress_row_is_found_by_verify(db_url: str, tmp_path: Path) -> None:
    _record_here(db_url, "bob")
    shadow(_suite(tmp_path), url=db_url)
    tamper(db_url, [("UPDATE lgaudit_shadow_progress SET outcome = ?", ["same"])])
    with Store.open(db_url) as store:
        result = store.verify()
    assert not result["ok"] and "state rows" in result["first_bad"]["reason"]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("[suite]\nname = 'x'\ngraph = 'shadow_graphs:greeter'\n", [], "[traffic]"),
        (SUITE, ["--max-runs", "0"], "--max-runs"),
        (SUITE, ["--graph", "shadow_graphs:nope"], "nope"),
        (SUITE + "[traffic.extra]\n", [], "extra"),
    ],
)
def test_bad_shadow_input_exits_2_and_changes_nothing(
    db_url: str, tmp_path: Path, text: str, args: list[str], message: str
) -> None:
    _record_here(db_url, "ann")
    path = _suite(tmp_path, text=text)
    before = snapshot(db_url)
    result: Any = CliRunner().invoke(cli, ["shadow", path, *args, "--db", db_url])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert snapshot(db_url) == before
