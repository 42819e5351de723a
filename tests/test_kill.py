"""The kill switch reaches every recorder — guarded or not, ``lgaudit replay`` and ``stage``
too — across processes, on SQLite and PostgreSQL; ``kill`` says whom an order reaches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from replay_graphs import AGENT_INPUT, agent

from lgaudit import GuardTripped, Recorder, Store, kill, lift_kill

TESTS = Path(__file__).parent

# A recorder in a process of its own, unguarded, running a graph that loops in short steps
# until a ``stop`` file appears; then it tries a second, new run. It prints how each ended.
_LOOPING_PROCESS = """
import sys, time
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from lgaudit import GuardTripped, Recorder

url, environment, switch, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])

class S(TypedDict):
    n: int

def tick(state: S) -> dict:
    (work / "started").touch()
    time.sleep(0.02)  # a slow agent's step
    return {"n": state["n"] + 1}

builder = StateGraph(S)
builder.add_node("tick", tick)
builder.add_edge(START, "tick")
builder.add_conditional_edges("tick", lambda s: END if (work / "stop").exists() else "tick")
# sync: the run's start is in the store before its first node runs, for ``kill`` to count
switched = {"kill_switch": switch == "on", "durability": "sync"}
with Recorder(url, environment=environment, **switched) as recorder:
    graph = recorder.attach(builder.compile())
    for i in range(2):  # the looping run, then a new one
        config = {"recursion_limit": 10**6, "configurable": {"thread_id": f"{work.name}-{i}"}}
        try:
            graph.invoke({"n": 0}, config)
            print("succeeded", flush=True)
        except GuardTripped as e:
            print("stopped", e.rule, flush=True)
"""


def _lgaudit(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, as an operator runs it (the tests' graphs importable)."""
    return subprocess.run(
        [sys.executable, "-m", "lgaudit.cli", *args, "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=TESTS.parent,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
    )


def _start_loop(url: str, tmp_path: Path, name: str, switch: str) -> tuple[Any, Path]:
    work = tmp_path / name
    work.mkdir()
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(_LOOPING_PROCESS))
    proc = subprocess.Popen(
        [sys.executable, str(script), url, "prod", switch, str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, work


def _wait_started(proc: Any, work: Path) -> None:
    for _ in range(600):
        if (work / "started").exists() or proc.poll() is not None:
            break
        threading.Event().wait(0.1)
    assert (work / "started").exists(), proc.stderr.read() if proc.poll() is not None else ""


def _runs_by_thread(url: str) -> dict[str, dict[str, Any]]:
    with Store.open(url) as store:
        return {r["thread_id"]: r for r in store.runs()}


def _events(url: str, run_id: str, kind: str) -> list[dict[str, Any]]:
    with Store.open(url) as store:
        return list(store.events(run_id, kinds=[kind]))


def test_kill_stops_an_unguarded_recorders_run_in_another_process_and_spares_an_opted_out_one(
    db_url: str, tmp_path: Path
) -> None:
    obeying, obeying_dir = _start_loop(db_url, tmp_path, "on", "on")
    opted_out, opted_out_dir = _start_loop(db_url, tmp_path, "off", "off")
    try:
        _wait_started(obeying, obeying_dir)
        _wait_started(opted_out, opted_out_dir)

        # an order on a thread no run ever used says plainly that it reaches nothing
        nothing = _lgaudit(db_url, "kill", "--thread", "nosuchthread", "--reason", "typo")
        assert nothing.returncode == 0, nothing.stderr
        assert "reaches nothing now: no live recorder and no running run" in nothing.stdout
        assert "no run was ever recorded on thread nosuchthread" in nothing.stdout

        killed = _lgaudit(db_url, "kill", "--environment", "prod", "--reason", "all stop")
        assert killed.returncode == 0, killed.stderr
        # the obeying recorder and its run; the opted-out one's run named as not reached
        assert "reaches 1 live recorder and 1 running run" in killed.stdout
        assert "1 running run of a recorder built with kill_switch=False not reached" in (
            killed.stdout
        )

        out, err = obeying.communicate(timeout=120)
        assert out.split("\n")[:2] == ["stopped guard.killed"] * 2, err
        (opted_out_dir / "stop").touch()
        out, err = opted_out.communicate(timeout=120)
        assert out.split("\n")[:2] == ["succeeded"] * 2, err
    finally:
        for proc in (obeying, opted_out):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    runs = _runs_by_thread(db_url)
    statuses = {t: r["status"] for t, r in runs.items()}
    assert statuses == {"on-0": "failed", "on-1": "failed", "off-0": "succeeded",
                        "off-1": "succeeded"}  # fmt: skip
    for thread, run in runs.items():
        start = _events(db_url, run["run_id"], "run_start")[0]["payload"]
        assert start["kill_switch"] is thread.startswith("on")
        guard = _events(db_url, run["run_id"], "guard")
        assert [g["payload"]["rule"] for g in guard] == (
            ["guard.killed"] if thread.startswith("on") else []
        )
    # the running run stopped at a node; the new run was refused before any node ran
    stopped = _events(db_url, runs["on-0"]["run_id"], "guard")[0]
    assert stopped["node"] == "tick" and "stopped node tick" in stopped["payload"]["message"]
    assert "all stop" in stopped["payload"]["message"]
    refused = _events(db_url, runs["on-1"]["run_id"], "guard")[0]
    assert "stopped a new run" in refused["payload"]["message"]
    assert _events(db_url, runs["on-1"]["run_id"], "node_start") == []
    with Store.open(db_url) as store:
        assert store.verify()["ok"]


def test_kill_counts_a_live_recorder_and_its_running_run(db_url: str) -> None:
    release, entered = threading.Event(), threading.Event()
    with Recorder(db_url, environment="prod") as recorder:
        graph = recorder.attach(_holding_graph(entered, release))
        worker = threading.Thread(
            target=_invoke_catching, args=(graph, {"configurable": {"thread_id": "held"}})
        )
        worker.start()
        try:
            assert entered.wait(30)
            recorder.flush()  # the run's start is in the store, for ``kill`` to count
            order = kill(reason="stop it", thread="held", url=db_url)
            assert order.reach is not None
            assert (order.reach.recorders, len(order.reach.runs)) == (1, 1)
            other = kill(reason="other env", environment="dev", url=db_url)
            assert other.reach is not None and other.reach.to_json() == {
                "recorders": 0,
                "running_runs": 0,
                "run_ids": [],
                "opted_out_runs": [],
                "target_used": False,
            }
            everything = json.loads(_lgaudit(db_url, "kill", "--reason", "all", "--json").stdout)
            assert everything["reach"]["recorders"] == 1
            assert everything["reach"]["run_ids"] == list(order.reach.runs)
        finally:
            release.set()
            worker.join(30)
    # the held run was stopped at its next node, once its blocked node returned
    run = _runs_by_thread(db_url)["held"]
    assert run["status"] == "failed"
    assert [g["payload"]["rule"] for g in _events(db_url, run["run_id"], "guard")] == [
        "guard.killed"
    ]
    lift_kill(order.id, url=db_url)  # the id is usable as before
    assert [k.id for k in _kills_active(db_url)] == sorted([other.id, everything["id"]])


def _kills_active(url: str) -> list[Any]:
    from lgaudit import kills

    return sorted((k for k in kills(url=url) if k.active), key=lambda k: k.id)


def _holding_graph(entered: threading.Event, release: threading.Event) -> Any:
    from typing import TypedDict

    from langgraph.graph import START, StateGraph

    class S(TypedDict):
        n: int

    def hold(state: S) -> dict[str, int]:
        entered.set()
        release.wait(60)
        return {"n": 1}

    builder = StateGraph(S)
    builder.add_node("hold", hold)
    builder.add_node("after", lambda s: {"n": 2})
    builder.add_edge(START, "hold")
    builder.add_edge("hold", "after")
    return builder.compile()


def _invoke_catching(graph: Any, config: dict[str, Any]) -> None:
    try:
        graph.invoke({"n": 0}, config)
    except GuardTripped:
        pass  # the test reads the recorded outcome


_SUITE = """
[suite]
name = "weather"
graph = "replay_graphs:agent"

[traffic]
environment = "production"
cassette = "strict"

[gate]
require = ["traffic"]
"""


def test_replay_and_stage_under_a_kill_order_fail_and_block(db_url: str, tmp_path: Path) -> None:
    with Recorder(db_url, environment="production") as recorder:
        recorder.attach(agent()).invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    source = _runs_by_thread(db_url)["w"]["run_id"]
    suite = tmp_path / "suite.toml"
    suite.write_text(_SUITE)

    order = kill(reason="freeze", url=db_url)  # every run, the replays' and stage's too
    replayed = _lgaudit(db_url, "replay", source, "--graph", "replay_graphs:agent")
    assert replayed.returncode == 1, replayed.stderr
    assert "(failed)" in replayed.stdout and "guard.killed" in replayed.stdout
    staged = _lgaudit(db_url, "stage", str(suite), "--json")
    assert staged.returncode == 1, staged.stderr
    doc = json.loads(staged.stdout)
    assert doc["verdict"] == "block"
    assert doc["cases"] and all(c["status"] == "failed" for c in doc["cases"])
    assert all("guard.killed" in {f["rule"] for f in c["findings"]} for c in doc["cases"])
    with Store.open(db_url) as store:
        replays = [r for r in store.runs() if r["replay"] is not None]
        assert len(replays) == 1 + len(doc["cases"])
        for r in replays:
            assert r["status"] == "failed"
            guard = store.events(r["run_id"], kinds=["guard"])
            assert [g["payload"]["kill_order"] for g in guard] == [order.id]
            assert store.events(r["run_id"], kinds=["run_start"])[0]["payload"]["kill_switch"]

    lift_kill(order.id, url=db_url)  # the same suite promotes once the order is lifted
    staged = _lgaudit(db_url, "stage", str(suite), "--json")
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert json.loads(staged.stdout)["verdict"] == "promote"


@pytest.mark.parametrize("switch", [True, False])
def test_run_start_says_whether_the_recorder_obeys_kill_orders(db_url: str, switch: bool) -> None:
    kill(reason="everything", url=db_url)
    with Recorder(db_url, kill_switch=switch) as recorder:
        graph = recorder.attach(agent())
        if switch:
            with pytest.raises(GuardTripped, match="guard.killed"):
                graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
        else:
            graph.invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": "w"}})
    run = _runs_by_thread(db_url)["w"]
    assert run["status"] == ("failed" if switch else "succeeded")
    start = _events(db_url, run["run_id"], "run_start")[0]["payload"]
    assert start["kill_switch"] is switch
