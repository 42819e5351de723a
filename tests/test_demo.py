"""``lgaudit demo`` prints each part as it is done, and gives the same summary every time it
runs on one store — both backends.

The demo's figures are its own: its production traffic is recorded under an environment of
its own and staged alone (a second demo used to stage the first one's traffic too: 15 cases
became 23), and it counts the runs and events it recorded, not the whole store's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lgaudit
from lgaudit.cli import cli

_ID = re.compile(r"[0-9a-f]{6,}(?:-[0-9a-f]+)*")


def masked(text: str) -> list[str]:
    """The summary with run ids, id prefixes and the demo's random suffix masked."""
    return [_ID.sub("<id>", line) for line in text.splitlines()]


def demo_in_a_process(db_url: str, cwd: Path) -> str:
    """``lgaudit demo`` in a process of its own, its stdout read line by line: the first
    part's lines arrive while the demo is still running."""
    root = str(Path(lgaudit.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    with open(cwd / "demo.stderr", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lgaudit.cli", "demo", "--db", db_url],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("recorded into "):
            line = proc.stdout.readline()
            assert line, f"the demo ended before its first part: {lines}"
            lines.append(line)
        # the first part is on screen while the replays, the audit and the stage still run
        assert proc.poll() is None
        lines.append(proc.stdout.read())
        assert proc.wait(timeout=600) == 0, Path(err.name).read_text()
    return "".join(lines)


def test_demo_prints_as_it_goes_and_gives_the_same_summary_every_time(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = demo_in_a_process(db_url, tmp_path)
    monkeypatch.chdir(tmp_path)  # on PostgreSQL the suite is written to the working directory
    again = CliRunner().invoke(cli, ["demo", "--db", db_url])
    assert again.exit_code == 0, again.output

    summary = masked(first)
    assert summary == masked(again.output)
    parts = [
        "lgaudit demo: recording",
        "recorded into",
        "replayed run",
        "diff original vs strict replay: identical",
        "audit with lgaudit-demo-policy.toml: 1 finding(s)",
        "recorded production traffic: 9 runs",
        "staging three candidate versions",
        "  lgaudit.demo:agent: PROMOTE (17 cases)",
        "    new checks held: latency, load, pending, sandbox",
        "  lgaudit.demo:agent_fast_lane: BLOCK (17 cases)",
        "    FAIL load: 8 problem(s): load email approved #1: failed: expected state.approved",
        "  lgaudit.demo:agent_renamed_gate: BLOCK (17 cases)",
        "    FAIL pending: 1 of 1 pending thread(s) broken",
        "verify: ok (the whole chain); this demo recorded",
        "try next:",
    ]
    at = [next(i for i, line in enumerate(summary) if line.startswith(p)) for p in parts]
    assert at == sorted(at), summary
    assert summary[-1].strip().startswith("lgaudit ui --open"), summary  # it ends there
