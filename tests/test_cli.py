"""The CLI's contract: every verb has help, JSON output is exactly what SPEC names, bad input
is one line and exit 2. Also pins the public Python surface."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner
from helpers import record_demo_runs

import lgaudit
from lgaudit import EVENT_KINDS
from lgaudit.cli import cli

RUN_FIELDS = {
    "run_id",
    "thread_id",
    "parent_run_id",
    "graph",
    "status",
    "started_at",
    "ended_at",
    "environment",
    "event_count",
    "tokens",
}
EVENT_FIELDS = {
    "seq",
    "kind",
    "ts",
    "node",
    "step",
    "task_id",
    "checkpoint_ns",
    "checkpoint_id",
    "payload",
    "hash",
}


def test_public_surface_is_pinned() -> None:
    assert sorted(lgaudit.__all__) == [
        "AppendOnlyViolation",
        "AuditReport",
        "AuditSaver",
        "BadInputError",
        "CassetteMode",
        "EVENT_KINDS",
        "Finding",
        "GuardTripped",
        "Kill",
        "LgauditError",
        "Policy",
        "Promotability",
        "Recorder",
        "RecordingSaver",
        "ReplayResult",
        "RunDiff",
        "SchemaError",
        "StageResult",
        "Store",
        "StoreError",
        "UnknownRunError",
        "UnknownStageError",
        "audit",
        "diff",
        "kill",
        "kills",
        "lift_kill",
        "promotable",
        "replay",
        "signoff",
        "signoffs",
        "stage",
        "stage_result",
        "stages",
    ]
    for name in lgaudit.__all__:
        assert getattr(lgaudit, name) is not None
    assert EVENT_KINDS == (
        "run_start",
        "run_end",
        "run_error",
        "node_start",
        "node_end",
        "node_error",
        "llm_start",
        "llm_end",
        "llm_error",
        "tool_start",
        "tool_end",
        "tool_error",
        "checkpoint",
        "writes",
        "interrupt",
        "resume",
        "state_update",
        "delete",
        "custom",
        "memory_read",
        "memory_write",
        "guard",
    )


def _walk(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(_walk(command, (*prefix, name)))
    return found


def test_every_command_has_help() -> None:
    commands = _walk(cli)
    names = {" ".join(path) for path, _ in commands}
    assert {
        "runs",
        "show",
        "checkpoints",
        "export",
        "verify",
        "demo",
        "replay",
        "diff",
        "audit",
        "blame",
        "report",
        "db upgrade",
        "db current",
    } <= names
    runner = CliRunner()
    for path, command in commands:
        assert (command.help or "").strip(), path
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, path


@pytest.fixture
def recorded(db_url: str) -> dict[str, Any]:
    return {"url": db_url, "runs": record_demo_runs(db_url)}


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_runs_json(recorded: dict[str, Any]) -> None:
    url = recorded["url"]
    runs = run_json("runs", "--db", url, "--json")
    assert len(runs) == 3 and all(RUN_FIELDS <= set(r) for r in runs)
    assert [r["started_at"] for r in runs] == sorted((r["started_at"] for r in runs), reverse=True)
    assert {r["status"] for r in runs} == {"succeeded", "interrupted"}
    assert [r["status"] for r in run_json("runs", "--db", url, "--thread", "a", "--json")] == [
        "succeeded",
        "interrupted",
    ]
    assert len(run_json("runs", "--db", url, "--status", "interrupted", "--json")) == 1
    assert len(run_json("--db", url, "runs", "--limit", "1", "--json")) == 1
    agent_runs = [r for r in runs if r["thread_id"] == "a"]
    assert sum(r["tokens"] for r in agent_runs) == 54 + 70


def test_show_json_carries_spec_fields(recorded: dict[str, Any]) -> None:
    url = recorded["url"]
    resumed = next(
        r for r in recorded["runs"] if r["thread_id"] == "a" and r["status"] == "succeeded"
    )
    data = run_json("show", resumed["run_id"][:8], "--db", url, "--json")
    assert set(data) == {"run", "events"} and RUN_FIELDS <= set(data["run"])
    events = data["events"]
    assert all(EVENT_FIELDS <= set(e) for e in events)
    assert {e["kind"] for e in events} <= set(EVENT_KINDS)
    llm_end = [e for e in events if e["kind"] == "llm_end"]
    assert llm_end and llm_end[0]["model"] == "scripted-model"
    assert set(llm_end[0]["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    tool_start = [e for e in events if e["kind"] == "tool_start"]
    assert tool_start[0]["tool"] == "send_email"
    assert tool_start[0]["payload"]["input"] == {
        "to": "cfo@example.com",
        "body": "Q3 report attached",
    }
    cp = [e for e in events if e["kind"] == "checkpoint"][-1]
    assert {"checkpoint_id", "parent_checkpoint_id", "step", "source", "values"} <= set(
        cp["payload"]
    )
    assert cp["payload"]["values"]["approved"] is True
    assert [e["kind"] for e in events if e["kind"] in ("resume",)] == ["resume"]


def test_checkpoints_and_export(recorded: dict[str, Any]) -> None:
    url = recorded["url"]
    run = next(r for r in recorded["runs"] if r["thread_id"] == "s")
    items = run_json("checkpoints", run["run_id"], "--db", url, "--json")
    assert [c["step"] for c in items] == list(range(-1, 7))
    assert (
        items[0]["source"] == "input"
        and items[1]["parent_checkpoint_id"] == items[0]["checkpoint_id"]
    )
    text = CliRunner().invoke(cli, ["checkpoints", run["run_id"], "--db", url]).output
    assert items[-1]["checkpoint_id"] in text
    out = CliRunner().invoke(cli, ["export", run["run_id"], "--format", "jsonl", "--db", url])
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == run["event_count"] and [e["seq"] for e in lines] == list(
        range(1, len(lines) + 1)
    )


def test_show_text_is_a_timeline(recorded: dict[str, Any]) -> None:
    url = recorded["url"]
    interrupted = next(r for r in recorded["runs"] if r["status"] == "interrupted")
    text = CliRunner().invoke(cli, ["show", interrupted["run_id"], "--db", url]).output
    for needle in (
        "status interrupted",
        "node agent",
        "llm scripted-model",
        "INTERRUPT at human_review",
    ):
        assert needle in text, needle


def test_bad_input_is_one_line_exit_2(recorded: dict[str, Any], tmp_path) -> None:
    url = recorded["url"]
    runner = CliRunner()
    cases = [
        ["show", "nosuchrun", "--db", url],
        ["show", "ab", "--db", url],
        ["checkpoints", "ffffffff", "--db", url],
        ["export", "ffffffff", "--db", url],
        ["runs", "--db", f"sqlite:///{tmp_path}/missing.db"],
        ["verify", "--db", "nonsense://x"],
        ["runs", "--status", "weird", "--db", url],
        ["show", "", "--db", url],
        ["verify", "--run", "", "--db", url],
    ]
    for args in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.output
    assert not (tmp_path / "missing.db").exists()
    assert run_json("verify", "--db", url, "--json")["ok"] is True
