"""Staging's other dimensions: case timeouts, the tool sandbox, latency and state growth —
on SQLite and PostgreSQL, with graphs written as LangGraph's docs write them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import dims_graphs
import pytest
from click.testing import CliRunner

import lgaudit
from lgaudit import Recorder, Store, stage
from lgaudit.cli import cli


def suite(tmp_path: Path, text: str, name: str = "suite.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def by_case(result: Any) -> dict[str, Any]:
    return {c.case: c for c in result.cases}


@pytest.fixture
def release() -> Any:
    dims_graphs.RELEASE.clear()
    yield dims_graphs.RELEASE
    dims_graphs.RELEASE.set()  # the abandoned case thread ends


def test_a_hang_is_a_timeout_and_the_stage_ends_with_a_verdict(
    db_url: str, tmp_path: Path, release: Any
) -> None:
    path = suite(
        tmp_path,
        """
[suite]
name = "hangs"
graph = "dims_graphs:hang"
case_timeout_s = 1

[[scenario]]
name = "stuck"
input = { job = "a" }
expect = { status = "succeeded" }

[[scenario]]
name = "stuck again"
input = { job = "b" }

[gate]
require = ["scenarios"]
""",
    )
    result = stage(path, url=db_url)
    assert result.verdict == "block"
    stuck = by_case(result)["stuck"]
    assert stuck.outcome == "timeout" and stuck.status == "failed"
    assert "case_timeout_s = 1" in (stuck.detail or "")
    assert "wait_for_lock" in (stuck.detail or "")
    assert "prepare" not in (stuck.detail or "")  # it had left that node
    assert by_case(result)["stuck again"].outcome == "timeout"
    assert not result.check("scenarios").ok
    with Store.open(db_url) as store:
        for c in result.cases:
            run = store.run(str(c.run_id))
            assert run["status"] == "failed"  # nothing left running
            errors = store.events(run["run_id"], kinds=["run_error"])
            assert "case_timeout_s = 1 exceeded" in json.dumps(errors[0]["payload"])
            node_errors = store.events(run["run_id"], kinds=["node_error"])
            assert [e["node"] for e in node_errors] == ["wait_for_lock"]
            assert store.verify(run=run["run_id"])["ok"]
        assert not store.runs(status="running")
    doc = result.to_json()
    assert [c["outcome"] for c in doc["cases"]] == ["timeout", "timeout"]
    assert all(1 <= c["seconds"] < 1 + 5 for c in doc["cases"])  # within case_timeout_s + 5 s


def test_the_cli_ends_with_its_verdict_though_a_task_thread_still_hangs(
    db_url: str, tmp_path: Path
) -> None:
    path = suite(
        tmp_path,
        """
[suite]
name = "parallel"
graph = "dims_graphs:parallel_hang"
case_timeout_s = 1

[[scenario]]
name = "stuck beside another"
input = { job = "a" }
""",
    )
    tests = str(Path(__file__).parent)
    root = str(Path(lgaudit.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, tests])}
    done = subprocess.run(
        [sys.executable, "-m", "lgaudit.cli", "stage", path, "--db", db_url, "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    [case] = json.loads(done.stdout)["cases"]
    assert case["outcome"] == "timeout"
    with Store.open(db_url) as store:
        assert store.run(case["run_id"])["status"] == "failed"
        assert not store.runs(status="running")


def test_a_slow_case_is_stopped_at_its_next_model_call(db_url: str, tmp_path: Path) -> None:
    path = suite(
        tmp_path,
        """
[suite]
name = "slow"
graph = "dims_graphs:slow_then_fine"
case_timeout_s = 0.5

[[scenario]]
name = "thinks too long"
input = { messages = [{ type = "human", content = "hi" }] }
""",
    )
    result = stage(path, url=db_url)
    case = result.cases[0]
    assert case.outcome == "timeout" and "think" in (case.detail or "")
    with Store.open(db_url) as store:
        errors = store.events(str(case.run_id), kinds=["run_error"])
        assert "stage.timeout" in json.dumps(errors[0]["payload"])
        assert "stopped model" in json.dumps(errors[0]["payload"])  # stopped from inside


SANDBOX = """
[suite]
name = "refunds"
graph = "dims_graphs:refund_agent"

[[scenario]]
name = "refund"
input = { messages = [{ type = "human", content = "refund order 42" }] }
expect = { status = "succeeded" }

[tools]
sandbox = true
live = ["lookup_order"]
%s

[gate]
require = ["scenarios", "sandbox"]
"""


def test_a_live_tool_under_the_sandbox_fails_its_case_and_never_runs(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("DIMS_LEDGER", str(ledger))
    result = stage(suite(tmp_path, SANDBOX % ""), url=db_url)
    case = result.cases[0]
    assert case.outcome == "failed"
    assert "refused tool(s) transfer" in (case.detail or "")
    assert not ledger.exists()  # the real transfer never ran
    sandbox = result.check("sandbox")
    assert not sandbox.ok and "tool transfer refused" in sandbox.detail
    assert result.verdict == "block"
    with Store.open(db_url) as store:
        tools = store.events(str(case.run_id), kinds=["tool_start", "tool_end", "tool_error"])
        assert [(e["kind"], e["payload"].get("tool")) for e in tools][:3] == [
            ("tool_start", "lookup_order"),
            ("tool_end", "lookup_order"),
            ("tool_start", "transfer"),
        ]
        assert "sandbox refused" in json.dumps(tools[-1]["payload"])


@pytest.mark.parametrize("stand_in", ["fake_transfer", "fake_transfer_tool"])
def test_a_stand_in_answers_instead_of_the_real_tool(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stand_in: str
) -> None:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("DIMS_LEDGER", str(ledger))
    text = SANDBOX % f'stand_ins = {{ transfer = "dims_graphs:{stand_in}" }}'
    result = stage(suite(tmp_path, text), url=db_url)
    assert result.cases[0].outcome == "passed", result.cases[0].detail
    assert result.check("sandbox").ok, result.check("sandbox").detail
    assert result.verdict == "promote"
    assert not ledger.exists()
    with Store.open(db_url) as store:
        events = store.expanded_events(str(result.cases[0].run_id))
        ends = [e for e in events if e["kind"] == "tool_end"]
        assert "(sandbox) would send 30 to acct-7" in json.dumps(ends[-1]["payload"])


def test_without_the_sandbox_a_live_tool_fails_the_sandbox_check(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("DIMS_LEDGER", str(ledger))
    text = (SANDBOX % "").replace("sandbox = true", "sandbox = false")
    result = stage(suite(tmp_path, text), url=db_url)
    assert result.cases[0].outcome == "passed"
    assert ledger.read_text() == "acct-7 30\n"  # it ran: nothing stopped it
    check = result.check("sandbox")
    assert not check.ok and "tool transfer ran live" in check.detail


def test_a_required_check_with_nothing_to_exercise_fails(db_url: str, tmp_path: Path) -> None:
    path = suite(
        tmp_path,
        """
[suite]
name = "plain"
graph = "dims_graphs:calm"

[[scenario]]
name = "hello"
input = { user = "ann", query = "hi" }

[gate]
require = ["scenarios", "latency", "load", "pending", "sandbox"]
""",
    )
    result = stage(path, url=db_url)
    assert result.check("scenarios").ok
    for name, words in (
        ("latency", "max_case_seconds"),
        ("load", "[load]"),
        ("pending", "[pending]"),
        ("sandbox", "[tools]"),
    ):
        check = result.check(name)
        assert not check.ok and words in check.detail, (name, check.detail)
    assert result.verdict == "block"


def test_latency_limits_and_state_growth(db_url: str, tmp_path: Path) -> None:
    path = suite(
        tmp_path,
        """
[suite]
name = "timed"
graph = "dims_graphs:chatty"

[[scenario]]
name = "talks"
input = { messages = [{ type = "human", content = "hi" }] }

[envelope]
max_case_seconds = 60
max_node_p95_seconds = { agent = 0.000001 }
max_state_bytes = 20000

[gate]
require = ["scenarios", "latency", "envelope"]
""",
    )
    result = stage(path, url=db_url)
    latency = result.check("latency")
    assert not latency.ok and "node agent p95" in latency.detail
    assert "max_node_p95_seconds 1e-06" in latency.detail
    envelope = result.check("envelope")
    assert not envelope.ok and "max_state_bytes 20000" in envelope.detail
    assert "largest state" in envelope.detail
    doc = result.to_json()
    assert set(doc["latency"]) == {"cases", "nodes"}
    assert set(doc["latency"]["cases"]) == {"p50", "p95"}
    assert doc["latency"]["nodes"]["agent"]["n"] == 1
    assert set(doc["latency"]["nodes"]["agent"]) == {"p50", "p95", "n"}
    assert doc["latency"]["nodes"]["agent"]["p95"] > 0
    assert doc["cases"][0]["seconds"] > 0
    assert "load" not in doc


def test_the_cli_prints_timeouts_and_bad_tools_tables_exit_2(db_url: str, tmp_path: Path) -> None:
    bad = suite(
        tmp_path,
        SANDBOX % 'stand_ins = { transfer = "dims_graphs:no_such_thing" }',
    )
    out = CliRunner().invoke(cli, ["stage", bad, "--db", db_url])
    assert out.exit_code == 2
    assert "tools.stand_ins.transfer" in out.output and "Traceback" not in out.output


# -- threads parked at an interrupt ----------------------------------------------------------


def park(url: str, thread: str, env: str = "production") -> None:
    """A production run of ``approvals`` left waiting for a human at ``review``."""
    with Recorder(url, environment=env) as rec:
        rec.attach(dims_graphs.approvals()).invoke(
            dims_graphs.APPROVAL_INPUT, {"configurable": {"thread_id": thread}}
        )


PENDING = """
[suite]
name = "approvals-v2"
graph = "dims_graphs:{graph}"

[pending]
environment = "production"
answer = "approve"

[gate]
require = ["pending"]
"""


def thread_rows(url: str, thread: str) -> list[tuple[Any, ...]]:
    with Store.open(url) as store:
        return [(e["gseq"], e["kind"], e["hash"]) for e in store.thread_events(thread)]


@pytest.mark.parametrize(
    ("graph", "outcome", "words"),
    [
        ("approvals_renamed", "broken", ["node review", "renamed or removed"]),
        ("approvals_strict", "broken", ["StrictRefund", "amount = 30"]),
        ("approvals_notify", "resumes", []),
        ("approvals_note", "resumes", []),
        ("approvals", "resumes", []),
    ],
)
def test_pending_threads_resume_or_break_on_the_candidate(
    db_url: str, tmp_path: Path, graph: str, outcome: str, words: list[str]
) -> None:
    park(db_url, "refund-1")
    park(db_url, "refund-2", env="staging")  # another environment: not selected
    before = thread_rows(db_url, "refund-1")
    dims_graphs.DONE.clear()

    result = stage(suite(tmp_path, PENDING.format(graph=graph)), url=db_url)

    [case] = result.cases
    assert (case.kind, case.case, case.outcome) == ("pending", "pending refund-1", outcome)
    for word in words:
        assert word in (case.detail or ""), case.detail
    check = result.check("pending")
    assert check.ok is (outcome == "resumes"), check.detail
    assert result.verdict == ("promote" if outcome == "resumes" else "block")
    if outcome == "resumes":
        assert dims_graphs.DONE == ["paid"]  # the copy ran on past the human
        with Store.open(db_url) as store:
            run = store.run(str(case.run_id))
            assert run["status"] == "succeeded" and run["thread_id"] != "refund-1"
            assert run["thread_id"].startswith("refund-1~pending-")
            nodes = [e["node"] for e in store.events(run["run_id"], kinds=["node_start"])]
            assert nodes[0] == "review" and nodes[-1] == "pay"
    # production's thread is never written
    assert thread_rows(db_url, "refund-1") == before
    with Store.open(db_url) as store:
        assert store.verify()["ok"]
        [latest] = store.runs(thread_id="refund-1", limit=1)
        assert latest["status"] == "interrupted"


def test_a_callable_answers_the_interrupt_the_thread_waits_at(db_url: str, tmp_path: Path) -> None:
    park(db_url, "refund-1")
    dims_graphs.ASKED.clear()
    text = PENDING.format(graph="approvals").replace('"approve"', '"dims_graphs:approve_small"')
    result = stage(suite(tmp_path, text), url=db_url)
    assert result.cases[0].outcome == "resumes"
    assert dims_graphs.ASKED == [{"refund": 30}]  # the stored interrupt's value


def test_a_re_interrupt_loop_is_broken(db_url: str, tmp_path: Path) -> None:
    park(db_url, "refund-1")
    result = stage(suite(tmp_path, PENDING.format(graph="approvals_asks_again")), url=db_url)
    [case] = result.cases
    assert case.outcome == "broken"
    assert "still interrupting at review" in (case.detail or "")


# -- load and races --------------------------------------------------------------------------

LOAD = """
[suite]
name = "tickets"
graph = "dims_graphs:{graph}"

[[scenario]]
name = "ask"
input = {{ user = "ann", query = "where is my order?" }}
expect = {{ status = "succeeded" }}

[load]
scenarios = ["ask"]
concurrency = 4
repeat = 12
max_p95_slowdown = 1000.0
max_rss_growth_mb = 500

[gate]
require = ["scenarios", "load", "audit"]
"""


def test_a_racy_graph_fails_load_naming_the_threads_and_channel(
    db_url: str, tmp_path: Path
) -> None:
    result = stage(suite(tmp_path, LOAD.format(graph="racy")), url=db_url)
    assert result.check("scenarios").ok  # alone, it looks fine
    load = result.check("load")
    assert not load.ok
    assert "state.unexplained_change in thread stage-" in load.detail
    assert "channel history" in load.detail
    assert result.verdict == "block"
    doc = result.to_json()["load"]
    assert set(doc) == {"cases", "concurrency", "p50", "p95", "alone_p95", "cases_per_s",
                        "rss_growth_mb"}  # fmt: skip
    assert doc["cases"] == 12 and doc["concurrency"] == 4
    assert doc["cases_per_s"] > 0 and doc["p95"] >= doc["p50"] > 0
    with Store.open(db_url) as store:
        assert store.verify()["ok"]


def test_the_calm_twin_passes_load(db_url: str, tmp_path: Path) -> None:
    result = stage(suite(tmp_path, LOAD.format(graph="calm")), url=db_url)
    load = result.check("load")
    assert load.ok, load.detail
    assert "12 cases at concurrency 4" in load.detail and "cases/s" in load.detail
    assert result.verdict == "promote"
    with Store.open(db_url) as store:
        load_runs = [r for r in store.runs(limit=None) if r["thread_id"].startswith("stage-")]
        # 3 alone, 12 under load and the scenario's own case: each a run of its own thread
        assert len(load_runs) == 16 and len({r["thread_id"] for r in load_runs}) == 16
        assert all(r["status"] == "succeeded" for r in load_runs)
        assert store.verify()["ok"]
        # under load each run recorded what the scenario's own case recorded: no event lost
        # or duplicated
        [alone] = result.cases
        want = Counter(e["kind"] for e in store.events(str(alone.run_id)))
        for run_id in result.load_runs:
            assert Counter(e["kind"] for e in store.events(run_id)) == want


def test_slowdown_and_memory_limits_are_held(db_url: str, tmp_path: Path) -> None:
    text = LOAD.format(graph="calm").replace("max_p95_slowdown = 1000.0", "max_p95_slowdown = 0.01")
    text = text.replace("max_rss_growth_mb = 500", "max_rss_growth_mb = 0")
    result = stage(suite(tmp_path, text), url=db_url)
    load = result.check("load")
    assert not load.ok and "> max_p95_slowdown 0.01" in load.detail


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ('[load]\nscenarios = ["nope"]\n', "load.scenarios names no [[scenario]] 'nope'"),
        ('[load]\nscenarios = ["hello"]\nconcurrency = 0\n', "load.concurrency must be"),
        ('[pending]\nanswer = "dims_graphs:no_such"\n', "pending.answer"),
        ("[tools]\nsandbox = 1\n", "tools.sandbox must be true or false"),
        ("[tools]\nlive = 3\n", "tools.live must be a list of strings"),
        ('[envelope]\nmax_node_p95_seconds = { agent = "fast" }\n', "max_node_p95_seconds"),
        ("[envelope]\nmax_state_bytes = -1\n", "envelope.max_state_bytes"),
        ("[suite2]\n", "unknown key suite2"),
        ('[gate]\nrequire = ["speed"]\n', "unknown check 'speed'"),
    ],
)
def test_bad_tables_are_one_line_exit_2(db_url: str, tmp_path: Path, extra: str, said: str) -> None:
    text = '[suite]\nname = "x"\ngraph = "dims_graphs:calm"\ncase_timeout_s = 5\n'
    text += '[[scenario]]\nname = "hello"\ninput = { user = "ann", query = "hi" }\n' + extra
    out = CliRunner().invoke(cli, ["stage", suite(tmp_path, text), "--db", db_url])
    assert out.exit_code == 2, out.output
    assert said in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1
