"""Staging's other dimensions in every report: ``--json``, ``--junit``, the text and the
HTML page (in Chromium) show the timeout, the pending threads, latency and load."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import dims_graphs
import pytest
from click.testing import CliRunner
from test_stage_dims import park, suite

from lgaudit.cli import cli

SUITE = """
[suite]
name = "everything"
graph = "dims_graphs:approvals_renamed"
case_timeout_s = 1

[[scenario]]
name = "refund"
input = { order = 7 }
humans = ["approve"]

[load]
scenarios = ["refund"]
concurrency = 2
repeat = 4

[pending]
environment = "production"

[tools]
sandbox = true

[envelope]
max_case_seconds = 60

[gate]
require = ["scenarios", "latency", "load", "pending", "sandbox"]
"""


@pytest.fixture
def staged(db_url: str, tmp_path: Path) -> dict[str, Any]:
    park(db_url, "refund-1")
    dims_graphs.DONE.clear()
    junit, html = tmp_path / "stage.xml", tmp_path / "stage.html"
    out = CliRunner().invoke(
        cli,
        ["stage", suite(tmp_path, SUITE), "--db", db_url, "--json", "--junit", str(junit),
         "--html", str(html)],
    )  # fmt: skip
    text = CliRunner().invoke(cli, ["stage", suite(tmp_path, SUITE), "--db", db_url])
    return {"out": out, "text": text.stdout, "junit": junit, "html": html}


def test_json_junit_and_text_carry_the_new_outcomes_and_figures(staged: dict[str, Any]) -> None:
    out = staged["out"]
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert not checks["pending"]["ok"] and "node review" in checks["pending"]["detail"]
    for name in ("latency", "load", "sandbox", "scenarios"):
        assert checks[name]["ok"], checks[name]
    pending = [c for c in doc["cases"] if c["kind"] == "pending"]
    assert [c["outcome"] for c in pending] == ["broken"]
    assert all(isinstance(c["seconds"], float) for c in doc["cases"])
    assert doc["latency"]["nodes"]["draft"]["n"] >= 1
    assert doc["load"]["cases"] == 4 and doc["load"]["concurrency"] == 2

    root = ET.parse(staged["junit"]).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert "latency.cases.p95" in props and props["load.cases"] == "4"
    assert "latency.nodes.draft.p95" in props
    failing = {tc.get("name"): tc.find("failure") for tc in root.iter("testcase")}
    assert failing["pending refund-1"] is not None
    assert failing["pending refund-1"].get("type") == "broken"
    assert failing["pending"] is not None and failing["load"] is None
    assert all(float(tc.get("time", "0")) >= 0 for tc in root.iter("testcase"))

    text = staged["text"]
    assert "  FAIL pending:" in text
    assert "  broken  pending refund-1: the thread waits at node review" in text
    assert "latency: cases p50 " in text and "load: 4 cases at concurrency 2" in text


def test_the_page_shows_latency_load_and_the_broken_thread(
    staged: dict[str, Any], browser: Any
) -> None:
    page = browser.new_page()
    page.goto(staged["html"].as_uri())
    assert page.locator("#verdict").inner_text() == "BLOCK"
    assert page.locator("h2#latency").is_visible()
    draft = page.locator("#latency-nodes tr", has=page.locator("td", has_text="draft")).first
    assert draft.is_visible() and draft.inner_text().count(" s") == 2  # p50 and p95
    load = page.locator("h2#load + table")
    assert "cases_per_s" in load.inner_text() and "alone_p95" in load.inner_text()
    broken = page.locator("tr.bad", has=page.locator("td", has_text="broken")).first
    assert "pending refund-1" in broken.inner_text()
    pending = page.locator("table tr", has=page.locator("td", has_text="pending")).first
    assert "FAIL" in pending.inner_text()
