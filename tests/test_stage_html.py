"""``lgaudit stage --html``: the page renders in a real headless Chromium (Debian's
``chromium``, driven by Playwright), shows the verdict and a failing case, and a case's
link leads to its diff."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from test_stage import record_payments, suite

from lgaudit.cli import cli

SUITE = """
[suite]
name = "payments-html"
graph = "stage_graphs:payments_fast_lane"
[traffic]
environment = "production"
[gate]
require = ["traffic"]
"""


def test_html_report_shows_the_verdict_and_a_failing_case_with_its_diff(
    db_url: str, tmp_path: Path, browser
) -> None:
    record_payments(db_url, (50,))
    page_file = tmp_path / "stage.html"
    result = CliRunner().invoke(
        cli, ["stage", suite(tmp_path, SUITE), "--html", str(page_file), "--db", db_url]
    )
    assert result.exit_code == 1, result.output

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())

    assert page.title() == "lgaudit stage payments-html: block"
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and verdict.inner_text() == "BLOCK"
    traffic_row = page.locator("table tr", has=page.locator("td", has_text="traffic")).first
    assert "FAIL" in traffic_row.inner_text()
    changed = page.locator("tr.bad", has=page.locator("td", has_text="changed")).first
    assert changed.is_visible()
    assert "first divergence at step" in changed.inner_text()

    changed.locator("a").click()
    diff = page.locator("div.diff:target")
    assert diff.is_visible()
    assert "first divergence at step" in diff.inner_text()
    assert diff.locator("tr.different").count() >= 1
    assert errors == []
