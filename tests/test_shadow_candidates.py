"""``lgaudit shadow`` per candidate: the position, the progress rows and the rolling verdict
belong to (suite, candidate graph); ``--json`` lists every run behind the verdict; Ctrl-C on
``--follow`` prints the verdict so far. Each shadow runs in a process of its own, as a user
runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import shadow_graphs
from helpers import tamper

from lgaudit import Recorder, Store
from lgaudit.store.records import SHADOW_GRAPH, NewEvent, NewRun
from lgaudit.store.schema import ShadowProgress

TESTS = Path(__file__).parent
ROOT = TESTS.parent

SUITE = """
[suite]
name = "greeter-v2"
graph = "shadow_graphs:greeter_changed"

[traffic]
environment = "production"
graph = "greeter"
"""

GOOD = "shadow_graphs:greeter"  # the version in production: every replay is the same
CHANGED = "shadow_graphs:greeter_changed"  # greets bob differently


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}


def _lgaudit(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lgaudit.cli", *args, "--db", url],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=TESTS,
        timeout=300,
    )


def _record(url: str, *names: str) -> dict[str, str]:
    """Record a production run per name; every production run's id -> its name."""
    with Recorder(url, environment="production") as recorder:
        graph = recorder.attach(shadow_graphs.greeter())
        for name in names:
            graph.invoke({"name": name})
    with Store.open(url) as store:
        return {
            r["run_id"]: store.events(r["run_id"], kinds=["run_start"])[0]["payload"]["input"][
                "name"
            ]
            for r in store.runs(limit=None)
            if r["environment"] == "production" and r["graph"] == "greeter"
        }


def _suite(tmp_path: Path) -> str:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE, encoding="utf-8")
    return str(path)


def test_each_candidate_has_its_own_position_progress_and_verdict(
    db_url: str, tmp_path: Path
) -> None:
    names = _record(db_url, "ann", "bob", "cy")
    path = _suite(tmp_path)

    good = _lgaudit(db_url, "shadow", path, "--graph", GOOD, "--max-runs", "2")
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[-1].startswith("PROMOTE: greeter-v2 on shadow_graphs:greeter")

    # another candidate starts from the beginning of the traffic, its own verdict
    changed = _lgaudit(db_url, "shadow", path, "--json")
    assert changed.returncode == 1, changed.stderr
    doc = json.loads(changed.stdout)
    assert doc["graph"] == CHANGED and doc["verdict"] == "block"
    assert [names[c["source_run_id"]] for c in doc["cases"]] == ["ann", "bob", "cy"]
    assert (
        doc["replayed"] == 3 and "1 regression(s) in 3 shadowed runs" in doc["checks"][0]["detail"]
    )

    # the first candidate goes on where it stopped; bob's regression is not its own
    again = _lgaudit(db_url, "shadow", path, "--graph", GOOD, "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["verdict"] == "promote" and doc["graph"] == GOOD
    assert [names[c["source_run_id"]] for c in doc["cases"]] == ["cy"]
    assert [names[r["source_run_id"]] for r in doc["runs"]] == ["ann", "bob", "cy"]
    assert {r["outcome"] for r in doc["runs"]} == {"same"}
    assert "0 regression(s) in 3 shadowed runs" in doc["checks"][0]["detail"]

    with Store.open(db_url) as store:
        assert len([r for r in store.runs(limit=None) if r["parent_run_id"]]) == 6
        assert store.verify()["ok"]


def test_json_lists_every_run_behind_the_verdict_with_its_first_divergence(
    db_url: str, tmp_path: Path
) -> None:
    _record(db_url, "bob", "ann")
    path = _suite(tmp_path)
    first = _lgaudit(db_url, "shadow", path, "--max-runs", "1")
    assert first.returncode == 1, first.stderr
    names = _record(db_url, "dee")

    # this call replays ann and dee: both the same; the block is bob's, from the first call
    later = _lgaudit(db_url, "shadow", path, "--json")
    assert later.returncode == 1, later.stderr
    doc = json.loads(later.stdout)
    assert [c["outcome"] for c in doc["cases"]] == ["same", "same"]
    runs = {names[r["source_run_id"]]: r for r in doc["runs"]}
    assert list(runs) == ["bob", "ann", "dee"] and doc["replayed"] == 3
    bob = runs["bob"]
    assert bob["outcome"] == "changed" and bob["run_id"]
    assert bob["first_divergence"]["path"] == "state.greeting"
    assert (bob["first_divergence"]["a"], bob["first_divergence"]["b"]) == ("hello bob", "hi bob")
    assert runs["ann"]["first_divergence"] is None

    # the text names the regression behind the verdict in the sentence `stage` uses
    text = _lgaudit(db_url, "shadow", path)
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert lines[0].startswith("BLOCK: greeter-v2 on shadow_graphs:greeter_changed: 0 run(s)")
    assert lines[1].startswith(f"  changed shadow {bob['source_run_id'][:12]}: first divergence")
    assert "{" not in lines[1]  # a sentence, not a Python dict
    assert lines[1].endswith("node greet (state at state.greeting): hello bob -> hi bob")
    assert lines[2].split() == ["lgaudit", "diff", bob["source_run_id"][:12], bob["run_id"][:12]]


def test_ctrl_c_on_follow_prints_the_verdict_so_far_and_exits_with_its_code(
    db_url: str, tmp_path: Path
) -> None:
    _record(db_url, "ann", "bob", "cy")
    path = _suite(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lgaudit.cli", "shadow", path, "--graph", GOOD, "--follow",
         "--db", db_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=TESTS,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        seen = [lines.get(timeout=120) for _ in range(3)]  # the three runs, replayed
        assert all(line.startswith("same") for line in seen), seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, stderr  # promote: the verdict's code, not an abort's
    assert "Aborted!" not in stderr and "Traceback" not in stderr
    assert rest[-1].startswith("PROMOTE: greeter-v2 on shadow_graphs:greeter: 3 run(s) replayed")


def test_new_progress_columns_are_in_the_chain(db_url: str, tmp_path: Path) -> None:
    _record(db_url, "bob")
    assert _lgaudit(db_url, "shadow", _suite(tmp_path)).returncode == 1
    with Store.open(db_url) as store:
        assert store.verify()["ok"]
    for column, value in (("graph", GOOD), ("first_divergence", "{}"), ("detail", "fine")):
        tamper(db_url, [(f"UPDATE lgaudit_shadow_progress SET {column} = ?", [value])])
        with Store.open(db_url) as store:
            result = store.verify()
        assert not result["ok"] and "state rows" in result["first_bad"]["reason"], column
        tamper(db_url, [(f"UPDATE lgaudit_shadow_progress SET {column} = NULL", [])])


def test_a_progress_row_from_before_candidates_keeps_its_digest_and_counts_for_none(
    db_url: str, tmp_path: Path
) -> None:
    """Rows recorded before migration 0007 have no candidate: ``verify`` still finds their
    digest as it was computed then (over the first five columns), and no candidate's
    shadow counts them."""
    names = _record(db_url, "bob")
    (source,) = names
    legacy = {
        "suite": "greeter-v2",
        "source_run_id": source,
        "source_gseq": 1,
        "run_id": None,
        "outcome": "failed",
    }
    with Store.open(db_url) as store:
        run = NewRun(run_id=str(uuid.uuid4()), graph=SHADOW_GRAPH, environment="production")
        note = {"name": "lgaudit:shadow", "data": legacy}
        store.append([
            NewEvent(run=run, kind="run_start", payload={"graph": SHADOW_GRAPH}),
            NewEvent(run=run, kind="custom", payload=note, rows=[(ShadowProgress, legacy)]),
            NewEvent(run=run, kind="run_end", payload={"status": "succeeded"}),
        ])  # fmt: skip
        (event,) = store.events(run.run_id, kinds=["custom"])
        values = ("greeter-v2", source, 1, None, "failed")
        then = hashlib.sha256(f"lgaudit_shadow_progress{values!r}".encode()).hexdigest()
        assert event["payload"]["rows_digest"] == then
        assert store.verify()["ok"]
    done = _lgaudit(db_url, "shadow", _suite(tmp_path), "--graph", GOOD, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [r["outcome"] for r in doc["runs"]] == ["same"] and doc["replayed"] == 1
