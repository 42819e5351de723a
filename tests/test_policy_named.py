"""Every report says which policy it applied, or that none was — both backends.

``lgaudit report`` without ``--policy`` used to show a green "No findings." for a run the
demo's policy finds ``approval.forged`` in; ``audit``'s text and JSON, ``report``'s page and
``stage``'s page now name the policy (its file and tables) or say that only the rules that
need none ran. The pages are checked in a real headless Chromium.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from helpers import record_demo_runs
from test_stage import record_payments, suite

from lgaudit.cli import cli
from lgaudit.demo import DEMO_POLICY

NO_POLICY_RULES = ("state.unexplained_change", "run.error", "approval.resume_reused")


def run(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", db_url])


def staging_run(db_url: str) -> str:
    """The demo's staging loop (its reviewer forges the approval) among the demo's runs."""
    (found,) = [r["run_id"] for r in record_demo_runs(db_url) if r["graph"] == "staging_demo"]
    return found


def test_report_says_no_policy_was_applied_or_names_the_one_that_was(
    db_url: str, tmp_path: Path, browser
) -> None:
    forged = staging_run(db_url)
    bare, judged = tmp_path / "bare.html", tmp_path / "judged.html"
    assert run(db_url, "report", forged, "--html", str(bare)).exit_code == 0
    policy = tmp_path / "demo-policy.toml"
    policy.write_text(DEMO_POLICY)
    result = run(db_url, "report", forged, "--policy", str(policy), "--html", str(judged))
    assert result.exit_code == 0, result.output

    page = browser.new_page()
    page.goto(bare.as_uri())
    note = page.locator("#policy")
    assert note.is_visible()
    text = note.inner_text()
    assert text.startswith("No policy applied")
    assert all(rule in text for rule in NO_POLICY_RULES)
    assert "not a clean bill" in text
    # no green all-clear: the findings section says what ran, in the warning's colour
    assert page.locator("p.ok").count() == 0
    assert page.locator("p.none").inner_text() == "No findings from the rules that ran."
    assert "approval.forged" not in page.locator("body").inner_text()

    page.goto(judged.as_uri())
    note = page.locator("#policy")
    text = note.inner_text()
    assert note.is_visible() and f"Policy {policy} applied" in text
    assert "[approval] gates human_review; protected tool:send_email" in text
    assert "[budget] max_steps 50" in text and "Not set: [state], [memory]" in text
    forged_row = page.locator("tr", has=page.locator("td", has_text="approval.forged"))
    assert forged_row.is_visible()


def test_audit_text_and_json_name_the_policy_or_say_none_was_applied(
    db_url: str, tmp_path: Path
) -> None:
    forged = staging_run(db_url)
    bare = run(db_url, "audit", forged)
    assert bare.exit_code == 0, bare.output
    first, note = bare.stdout.splitlines()
    assert first.startswith("no findings: 1 run(s)")  # not "clean": no policy judged it
    assert note.startswith("no policy applied: only the rules that need none ran")
    assert all(rule in note for rule in NO_POLICY_RULES)
    doc = json.loads(run(db_url, "audit", forged, "--json").stdout)
    assert doc["policy"] is None and doc["findings"] == []

    policy = tmp_path / "demo-policy.toml"
    policy.write_text(DEMO_POLICY)
    judged = run(db_url, "audit", forged, "--policy", str(policy))
    assert judged.exit_code == 1
    assert judged.stdout.splitlines()[-1].startswith(
        f"policy {policy}: [approval] gates human_review"
    )
    junit = tmp_path / "audit.xml"
    args = ("audit", forged, "--policy", str(policy), "--json", "--junit", str(junit))
    doc = json.loads(run(db_url, *args).stdout)
    assert doc["policy"] == str(policy)
    (prop,) = ET.parse(junit).getroot().iter("property")
    assert prop.get("name") == "policy" and prop.get("value").startswith(f"policy {policy}:")
    assert [f["rule"] for f in doc["findings"]] == ["approval.forged"]
    assert "approval.forged" in doc["rules"]


PAYMENTS = """
[suite]
name = "payments-policy"
graph = "stage_graphs:payments"
[traffic]
environment = "production"
[gate]
require = ["traffic"]
"""


def test_stage_page_names_the_suites_policy_tables(db_url: str, tmp_path: Path, browser) -> None:
    record_payments(db_url, (50,))
    with_policy = suite(
        tmp_path,
        PAYMENTS + '[approval]\ngates = ["human_review"]\nprotected = ["execute_payment"]\n'
        "[budget]\nmax_steps = 20\n",
        "with-policy.toml",
    )
    without = suite(tmp_path, PAYMENTS, "without.toml")
    pages, texts = {}, {}
    for name, path in (("with", with_policy), ("without", without)):
        pages[name] = tmp_path / f"{name}.html"
        result = run(db_url, "stage", path, "--html", str(pages[name]))
        assert result.exit_code == 0, result.output
        texts[name] = result.output
    # the text report says it too, on the line after the checks
    assert f"audit policy {with_policy}: [approval] gates human_review" in texts["with"]
    assert (
        f"audit policy {without} sets no rule: only the rules that need none ran"
        in (texts["without"])
    )

    page = browser.new_page()
    page.goto(pages["with"].as_uri())
    text = page.locator("#policy").inner_text()
    assert f"Policy {with_policy} applied" in text
    assert "[approval] gates human_review; protected execute_payment" in text
    assert "[budget] max_steps 20" in text and "Not set: [state]." in text

    page.goto(pages["without"].as_uri())
    note = page.locator("#policy")
    assert note.is_visible()
    text = note.inner_text()
    assert text.startswith(f"Policy {without} sets no rule: only the rules that need none ran")
    assert all(rule in text for rule in NO_POLICY_RULES)
