"""``lgaudit ui`` in Chromium (Playwright), on SQLite and PostgreSQL: what a reviewer clicks
through — filter the runs, open a run and a step's state change, jump from a finding to its
step, open a diff at its first divergence — and recorded markup that never runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_graphs import HOSTILE_NODE, record_ui_runs, served


@pytest.fixture
def console(db_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    ids = record_ui_runs(db_url)
    with served(db_url) as base:
        yield base, ids


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def test_filter_runs_by_status_and_graph(console: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = console
    page.goto(base + "/")
    assert page.locator("tr.run-row").count() == 4
    page.select_option("select[name=status]", "failed")
    page.click("form.filters button[type=submit]")
    rows = page.locator("tr.run-row")
    assert rows.count() == 1
    assert ids["charge"][:12] in rows.first.inner_text()
    page.goto(base + "/")
    page.fill("input[name=graph]", "letters")
    page.click("form.filters button[type=submit]")
    assert page.locator("tr.run-row").count() == 2
    graphs = page.locator("td.graph").all_inner_texts()
    assert [g.split()[0] for g in graphs] == ["letters", "letters"]
    page.click("a.count.status-failed")  # the graph filter kept, the status added
    assert page.locator("tr.run-row").count() == 0
    assert "no runs match these filters" in page.inner_text("main")


def test_open_a_run_expand_a_step_and_read_its_state_change(
    console: tuple[str, dict[str, str]], page: Any
) -> None:
    base, ids = console
    page.goto(base + "/?graph=letters")
    page.click(f"a.run-link[href='/runs/{ids['letter_a']}']")
    step = page.locator("details#step-1")
    change = step.locator("table.changes")
    assert not change.is_visible()
    step.locator("summary").click()
    assert change.is_visible()
    text = change.inner_text()
    assert "letter" in text and "added" in text
    assert "Dear Alice, your order 4411 has shipped today. Thanks!" in text
    assert "name" not in change.locator("code").all_inner_texts()  # only what changed


def test_jump_from_a_finding_to_its_step(console: tuple[str, dict[str, str]], page: Any) -> None:
    base, ids = console
    page.goto(f"{base}/runs/{ids['charge']}")
    step = page.locator("details#step-2")
    assert step.get_attribute("open") is None
    page.click("a.finding-link")
    page.wait_for_function("document.getElementById('step-2').open")
    assert step.get_attribute("open") is not None
    assert step.locator("table.changes, .task").first.is_visible()
    assert "card declined" in step.inner_text()
    box = step.bounding_box()
    assert box is not None and 0 <= box["y"] < 800  # scrolled to it


def test_open_a_diff_and_see_the_first_divergence_highlighted(
    console: tuple[str, dict[str, str]], page: Any
) -> None:
    base, ids = console
    page.goto(f"{base}/?graph=letters")
    page.check(f"input[name=a][value='{ids['letter_a']}']")
    page.check(f"input[name=b][value='{ids['letter_b']}']")
    page.click("text=Diff a and b")
    assert page.url == f"{base}/diff/{ids['letter_a']}/{ids['letter_b']}"
    first = page.locator("tr.first-divergence")
    assert first.count() == 1
    assert "first divergence" in first.inner_text()
    first_difference = page.locator("tr.first-difference")
    assert "state.name" in first_difference.inner_text()
    assert first_difference.locator("mark").all_inner_texts() == ["e", "ia"]  # Alice, Alicia
    letter = page.locator("tr.difference", has_text="state.letter").first
    assert letter.locator("mark").all_inner_texts() == ["e", "ia"]  # not the whole sentence
    assert "has shipped today" in letter.inner_text()
    box = first.bounding_box()
    assert box is not None and 0 <= box["y"] < 800  # in view
    page.check("input[name=ignore][value='state.name']")
    page.check("input[name=ignore][value='state.letter']")
    page.click("form.ignore button[type=submit]")
    assert "identical" in page.inner_text("p.notice")


def test_recorded_script_renders_as_text_and_never_runs(
    console: tuple[str, dict[str, str]], page: Any
) -> None:
    base, ids = console
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/runs/{ids['hostile']}")
    page.click("button[data-toggle-all=open]")
    page.goto(f"{base}/?thread=hostile")
    page.goto(f"{base}/runs/{ids['hostile']}")
    page.click("button[data-toggle-all=open]")
    fired = page.evaluate(
        "[window.__pwned_node, window.__pwned_state, window.__pwned_tool]"
        ".map(v => v === undefined ? null : v)"
    )
    assert fired == [None, None, None] and dialogs == []
    body = page.inner_text("main")
    assert HOSTILE_NODE in body  # shown as text
    assert "<script>window.__pwned_tool=1</script>" in body
    assert page.locator("main script").count() == 0
