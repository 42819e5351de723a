"""What ``lgaudit stage`` says while and after it runs: one progress count over every case,
the checks together then the cases, the first divergence as a sentence (as ``shadow`` says
it), each error once and cut to a readable length (the whole text in ``--json``) — on SQLite
and PostgreSQL, with the demo's approval agent and its production traffic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from replay_graphs import AGENT_INPUT, agent

from lgaudit import Recorder, stage
from lgaudit.cli import cli
from lgaudit.demo_stage import DEMO_SUITE, record_production
from lgaudit.stage import CHECKS
from lgaudit.stage.suite import MORE_CHECKS

READABLE_LINE = 400  # no line of the text report is longer


def test_progress_counts_every_case_once(db_url: str, tmp_path: Path) -> None:
    with Recorder(db_url, environment="production") as rec:
        for i in range(2):
            rec.attach(agent()).invoke(dict(AGENT_INPUT), {"configurable": {"thread_id": f"w{i}"}})
    path = tmp_path / "suite.toml"
    path.write_text(
        '[suite]\nname = "w"\ngraph = "replay_graphs:agent"\n[traffic]\n[faults]\nmatrix = true\n',
        encoding="utf-8",
    )
    calls: list[tuple[int, int]] = []

    result = stage(str(path), url=db_url, progress=lambda d, t, _r: calls.append((d, t)))

    n = len(result.cases)
    assert n == 6  # 2 traffic, then the matrix: 2 nodes, 1 tool, 1 model
    assert [d for d, _ in calls] == list(range(1, n + 1))  # never starts again at 1
    assert calls[-1] == (n, n)
    assert all(d <= t for d, t in calls)


def _demo(db_url: str, tmp_path: Path) -> str:
    record_production(db_url)
    path = tmp_path / "demo-suite.toml"
    path.write_text(DEMO_SUITE, encoding="utf-8")
    return str(path)


def _stage(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["stage", *args, "--db", db_url])


def test_checks_together_then_cases_each_error_once_and_readable(
    db_url: str, tmp_path: Path
) -> None:
    path = _demo(db_url, tmp_path)
    fast_lane = ("--graph", "lgaudit.demo:agent_fast_lane")

    result = _stage(db_url, path, *fast_lane)

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("BLOCK approval-agent")
    every = (*CHECKS, *MORE_CHECKS)  # the demo suite requires them all
    checks = lines[1 : 1 + len(every)]
    states = [line.split()[0] for line in checks]
    assert states[:5] == ["FAIL"] * 5 and set(states[5:]) == {"ok"}  # failing first
    assert sorted(line.split()[1].rstrip(":") for line in checks) == sorted(every)
    assert lines[1 + len(every)].startswith(f"audit policy {path}: [approval] gates")
    assert lines[2 + len(every)].startswith("cases: 17 (")
    cases = lines[3 + len(every) :]
    assert cases and all(not line.startswith(("  FAIL", "  ok ")) for line in cases)
    changed = [line for line in cases if line.startswith("  changed traffic")]
    assert len(changed) == 5  # the first run of each of the five requests
    assert all(
        line.endswith('first divergence at step 2, node human_review (route at nodes): '
                      '["human_review"] -> ["tools"]')
        for line in changed
    )  # fmt: skip
    # the strict cassette's miss, the same in the four replays: said once, cut
    assert result.stdout.count("CassetteMissError") == 1
    assert max(len(line) for line in lines) <= READABLE_LINE, max(lines, key=len)

    # the whole text is in --json
    doc = json.loads(_stage(db_url, path, *fast_lane, "--json").stdout)
    audit = next(c for c in doc["checks"] if c["name"] == "audit")
    assert "no recorded call with these arguments" in audit["detail"]
    assert audit["detail"].count("CassetteMissError") == 1
    traffic = next(c for c in doc["checks"] if c["name"] == "traffic")
    assert "`lgaudit diff " in traffic["detail"]


def test_stage_and_shadow_help_state_exit_codes_and_describe_every_option() -> None:
    for verb in ("stage", "shadow"):
        command = cli.commands[verb]
        shown = CliRunner().invoke(cli, [verb, "--help"]).output
        assert "Exit codes: 0" in shown and "1 block, 2 bad input" in shown, verb
        for option in command.params:
            if option.param_type_name == "option":
                assert getattr(option, "help", None), (verb, option.name)
