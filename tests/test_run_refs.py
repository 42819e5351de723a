"""Run references and the chain's head: a prefix under 6 characters has its own message,
``verify`` prints the head hash (``head_hash`` in ``--json``) and ``show`` a run's last
event hash, as the README says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import fetch, record_demo_runs, snapshot

from lgaudit.cli import cli


@pytest.fixture
def recorded(db_url: str) -> dict[str, Any]:
    return {"url": db_url, "runs": record_demo_runs(db_url)}


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_a_run_prefix_under_6_characters_has_its_own_message(recorded: dict[str, Any]) -> None:
    url, run = recorded["url"], recorded["runs"][0]["run_id"]
    before = snapshot(url)
    for verb in (
        ["show"],
        ["checkpoints"],
        ["export"],
        ["replay", "--graph", "lgaudit.demo:agent"],
        ["verify", "--run"],
    ):
        args = [*verb, run[:5]] if verb[0] == "verify" else [verb[0], run[:5], *verb[1:]]
        out = _cli(*args, "--db", url)
        assert out.exit_code == 2, (verb, out.output)
        assert out.stderr == (
            f"lgaudit: a run prefix needs at least 6 characters: {run[:5]!r} has 5 "
            "(`lgaudit runs` lists the recorded runs)\n"
        )
    out = _cli("show", "zzzzzz", "--db", url)
    assert out.exit_code == 2 and "unknown run 'zzzzzz'" in out.stderr
    assert _cli("show", run[:6], "--db", url).exit_code == 0
    assert snapshot(url) == before


def test_verify_and_show_print_the_hashes_that_pin_the_chain(recorded: dict[str, Any]) -> None:
    url = recorded["url"]
    rows = fetch(url, "SELECT gseq, run_id, hash FROM lgaudit_events ORDER BY gseq")
    head = rows[-1].hash
    out = _cli("verify", "--db", url)
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == [f"ok: {len(rows)} events verified", f"head hash: {head}"]
    doc = json.loads(_cli("verify", "--db", url, "--json").stdout)
    assert doc["head_hash"] == head and doc["events_checked"] == len(rows)

    newest = recorded["runs"][0]["run_id"]
    own = [r.hash for r in rows if r.run_id == newest]
    shown = _cli("show", newest, "--db", url)
    assert shown.stdout.splitlines()[-1] == f"last event hash: {own[-1]}"
    one = json.loads(_cli("verify", "--run", newest[:8], "--db", url, "--json").stdout)
    assert one["head_hash"] == own[-1]
