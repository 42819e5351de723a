"""``lgaudit audit|blame|report`` through the CLI: JUnit, HTML, and bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from audit_graphs import cfg, record_agent, runs_of
from click.testing import CliRunner

from lgaudit import Recorder
from lgaudit.cli import cli
from lgaudit.demo import STAGING_INPUT, staging

POLICY = """
[approval]
gates = ["human_review"]
protected = ["tool:send_email"]
state_key = "approved"

[budget]
max_steps = 50
max_node_repeats = 10
max_llm_calls = 20
max_tool_calls = 20
max_tokens = 20000

[state]
owners = { output = ["execute"] }
"""


@pytest.fixture
def recorded(db_url: str):
    """The seed's staging run (a forged approval) and an approved agent thread."""
    with Recorder(db_url) as rec:
        rec.attach(staging()).invoke(dict(STAGING_INPUT), cfg("seed"))
        agent_runs = record_agent(rec, "order-42")
        (seed,) = runs_of(rec, "seed")
    return seed, agent_runs


def run(db_url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--db", db_url])


def test_audit_json_exit_codes_and_junit(recorded, db_url: str, tmp_path: Path) -> None:
    seed, agent_runs = recorded
    policy = tmp_path / "staging.toml"
    policy.write_text(POLICY)
    junit = tmp_path / "audit.xml"
    result = run(
        db_url, "audit", seed, *agent_runs, "--policy", str(policy), "--json", "--junit", str(junit)
    )
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["rule"], f["run_id"], f["node"]) for f in findings] == [
        ("approval.forged", seed, "review")
    ]
    assert set(findings[0]) == {
        "rule",
        "severity",
        "run_id",
        "thread_id",
        "step",
        "node",
        "channel",
        "event_seq",
        "message",
    }
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert len(cases) == 3 * 14 and int(suite.get("failures")) == 1
    (failed,) = [c for c in cases if c.find("failure") is not None]
    assert failed.get("name") == "approval.forged" and seed in failed.get("classname")
    clean = run(db_url, "audit", "--thread", "order-42", "--policy", str(policy))
    assert clean.exit_code == 0 and clean.stdout.startswith("clean: 2 run(s)")
    everything = run(db_url, "audit", "--all", "--json")
    assert everything.exit_code == 0
    assert json.loads(everything.stdout)["findings"] == []


@pytest.mark.parametrize(
    ("policy_text", "expected"),
    [
        (None, "not found"),
        ("[approval\ngates = [", "not valid TOML"),
        ("[approval]\ngate = ['human_review']\n", "unknown key approval.gate"),
        ("[budget]\nmax_steps = 'many'\n", "budget.max_steps must be a non-negative integer"),
        ("[approval]\nsingle_use = 'yes'\n", "approval.single_use must be true or false"),
        ("[limits]\n", "unknown key limits"),
    ],
)
def test_bad_policy_exits_2_with_one_line_and_changes_nothing(
    recorded, db_url: str, tmp_path: Path, policy_text: str | None, expected: str
) -> None:
    seed, _ = recorded
    policy = tmp_path / "policy.toml"
    if policy_text is not None:
        policy.write_text(policy_text)
    before = run(db_url, "runs", "--json").stdout
    junit = tmp_path / "out.xml"
    result = run(db_url, "audit", seed, "--policy", str(policy), "--junit", str(junit))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    assert "Traceback" not in result.output and not junit.exists()
    assert run(db_url, "runs", "--json").stdout == before
    verify = run(db_url, "verify", "--json")
    assert verify.exit_code == 0 and json.loads(verify.stdout)["ok"]


@pytest.mark.parametrize(
    "verb",
    [
        ["audit", "ffffff0000"],
        ["diff", "ffffff0000", "RUN"],
        ["blame", "ffffff0000", "approved"],
        ["report", "ffffff0000"],
    ],
)
def test_unknown_run_exits_2(recorded, db_url: str, verb: list[str]) -> None:
    seed, _ = recorded
    args = [seed if a == "RUN" else a for a in verb]
    before = run(db_url, "runs", "--json").stdout
    result = run(db_url, *args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "lgaudit: unknown run 'ffffff0000': `lgaudit runs` lists the recorded runs"
    ]
    assert run(db_url, "runs", "--json").stdout == before


def test_blame_names_every_writer_of_a_key(recorded, db_url: str) -> None:
    seed, agent_runs = recorded
    result = run(db_url, "blame", agent_runs[1], "approved", "--json")
    assert result.exit_code == 0
    entries = json.loads(result.stdout)
    assert [(e["run_id"], e["step"], e["node"], e["source"], e["value"]) for e in entries] == [
        (agent_runs[0], 0, "__start__", "input", False),
        (agent_runs[1], 2, "human_review", "write", True),
    ]
    assert all(e["task_id"] for e in entries)
    seed_blame = json.loads(run(db_url, "blame", seed, "step", "--json").stdout)
    assert [(e["node"], e["value"]) for e in seed_blame] == [
        ("__start__", 0),
        ("plan", 1),
        ("plan", 2),
    ]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        assert not (tag in ("link", "script", "img") and attrs), "no external assets"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_renders(recorded, db_url: str, tmp_path: Path, browser) -> None:
    seed, agent_runs = recorded
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    page = tmp_path / "report.html"
    result = run(
        db_url, "report", seed, "--against", seed, "--policy", str(policy), "--html", str(page)
    )
    assert result.exit_code == 0 and result.stdout.strip() == str(page)
    parser = _Text()
    parser.feed(page.read_text())
    text = " ".join(parser.text)
    for expected in (seed, "plan", "execute", "review", "approval.forged", "identical"):
        assert expected in text
    assert "style" in parser.tags and "script" not in parser.tags
    shown = browser.new_page()
    shown.goto(page.resolve().as_uri())
    dom = shown.locator("body").inner_text()
    for expected in (seed, "review", "approval.forged"):
        assert expected in dom
    agent_page = tmp_path / "agent.html"
    assert run(db_url, "report", agent_runs[1], "--html", str(agent_page)).exit_code == 0
    agent_text = agent_page.read_text()
    assert (
        "send_email" in agent_text and "resumed with" in agent_text and "No findings" in agent_text
    )
