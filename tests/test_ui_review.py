"""The review pages of ``lgaudit ui`` — ``/stages``, ``/stages/STAGE`` with its sign-off
form, ``/shadow`` — on SQLite and PostgreSQL: clicked through in Chromium (a sign-off
submitted from the page is what ``lgaudit signoffs`` lists and turns ``lgaudit
promotable`` from 1 to 0), and through Starlette's client for their JSON, escaping, 404s
and the CSRF token."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stage_graphs
from click.testing import CliRunner
from helpers import _shadow_once, row_counts, snapshot
from langgraph.types import Command
from starlette.testclient import TestClient

from lgaudit import Recorder, Store
from lgaudit.cli import cli
from lgaudit.review import record_stage_result
from lgaudit.ui import create_app

LOOPBACK = "http://127.0.0.1:8765"
SUITE = """
[suite]
name = "payments"
graph = "stage_graphs:payments"
[traffic]
environment = "production"
[gate]
require = ["traffic"]
"""


def lg(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", db_url])


def lg_json(db_url: str, *args: str) -> Any:
    result = lg(db_url, *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture
def stages(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Two payments recorded in production, staged twice on the same version (promote)
    and once on a changed one that skips the human for small payments (block)."""
    with Recorder(db_url, environment="production") as rec:
        g = rec.attach(stage_graphs.payments())
        for amount in (50, 500):
            config = {"configurable": {"thread_id": f"pay-{amount}"}}
            g.invoke({"amount": amount}, config)
            g.invoke(Command(resume="approve"), config)
    path = tmp_path / "suite.toml"
    path.write_text(SUITE, encoding="utf-8")
    first = lg_json(db_url, "stage", str(path))
    second = lg_json(db_url, "stage", str(path))
    blocked = lg_json(db_url, "stage", str(path), "--graph", "stage_graphs:payments_fast_lane")
    assert (first["verdict"], second["verdict"], blocked["verdict"]) == (
        "promote",
        "promote",
        "block",
    )
    return {"first": first, "second": second, "blocked": blocked}


@pytest.fixture
def served(db_url: str, stages: dict[str, Any]) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(db_url), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_sign_off_from_the_stage_page(
    browser: Any, served: str, db_url: str, stages: dict[str, Any]
) -> None:
    second, blocked = stages["second"]["stage_id"], stages["blocked"]["stage_id"]
    assert lg(db_url, "promotable", "payments", "--graph", "stage_graphs:payments").exit_code == 1
    page = browser.new_page()
    page.goto(f"{served}/stages")
    assert page.locator("tr.stage-row").count() == 3
    page.click(f"a.stage-link[href='/stages/{second}']")
    assert page.locator("#verdict").inner_text() == "PROMOTE"
    assert "has no sign-off" in page.locator("#promotable").inner_text()
    # the candidate's earlier stage result, linked
    assert page.locator(f"tr.earlier a[href='/stages/{stages['first']['stage_id']}']").count() == 1

    # a check's cases, then those of one outcome, each run beside its source run
    page.click("#check-traffic a.check-cases")
    assert page.locator("tr.case").count() == 4
    page.click("a.outcome-same")
    rows = page.locator("tr.case")
    assert rows.count() == 4 and "same" in rows.first.inner_text()
    case = stages["second"]["cases"][0]
    diff = f"/diff/{case['source_run_id']}/{case['run_id']}"
    assert page.locator(f"a.diff-link[href='{diff}']").count() == 1

    # sign off from the form; recorded markup stays text
    page.fill("form.signoff input[name=by]", "Ann <b>Reviewer</b>")
    page.select_option("form.signoff select[name=decision]", "approve")
    page.fill("form.signoff textarea[name=note]", "diffs read <script>window.__pwned=1</script>")
    page.click("form.signoff button[type=submit]")
    page.wait_for_selector("tr.signoff")
    row = page.locator("tr.signoff").first.inner_text()
    assert "Ann <b>Reviewer</b>" in row and "<script>window.__pwned=1</script>" in row
    assert page.evaluate("window.__pwned") is None
    assert "yes:" in page.locator("#promotable").inner_text()

    listed = lg_json(db_url, "signoffs")
    assert [(s["stage_id"], s["by"], s["decision"]) for s in listed] == [
        (second, "Ann <b>Reviewer</b>", "approve")
    ]
    assert lg(db_url, "promotable", "payments", "--graph", "stage_graphs:payments").exit_code == 0

    # the block verdict: approving it needs an override, which the form offers
    assert lg(db_url, "promotable", "payments").exit_code == 1  # the newest: blocked
    page.goto(f"{served}/stages/{blocked}")
    assert page.locator("#verdict").inner_text() == "BLOCK"
    page.fill("form.signoff input[name=by]", "Cy")
    page.click("form.signoff button[type=submit]")
    assert "--override" in page.locator(".error-message").inner_text()
    assert len(lg_json(db_url, "signoffs")) == 1
    page.goto(f"{served}/stages/{blocked}")
    page.fill("form.signoff input[name=by]", "Cy")
    page.fill("form.signoff input[name=override]", "the fast lane is the change we want")
    page.click("form.signoff button[type=submit]")
    page.wait_for_selector("tr.signoff")
    assert lg(db_url, "promotable", "payments").exit_code == 0
    assert lg(db_url, "verify").exit_code == 0


@pytest.fixture
def client(db_url: str, stages: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(db_url), base_url=LOOPBACK) as c:
        yield c


def test_the_stage_pages_json_is_the_clis(
    client: TestClient, db_url: str, stages: dict[str, Any]
) -> None:
    sid = stages["blocked"]["stage_id"]
    assert client.get("/api/stages").json() == lg_json(db_url, "stages")
    wanted = lg_json(db_url, "stages", "--suite", "payments", "--limit", "1")
    assert client.get("/api/stages", params={"suite": "payments", "limit": "1"}).json() == wanted
    assert client.get(f"/api/stages/{sid}").json() == stages["blocked"]
    assert client.get(f"/api/stages/{sid[:8]}/signoffs").json() == lg_json(db_url, "signoffs", sid)
    changed = client.get(f"/stages/{sid}", params={"outcome": "changed"}).text
    regressions = [c for c in stages["blocked"]["cases"] if c["outcome"] == "changed"]
    assert regressions and changed.count('<tr class="case ') == len(regressions)
    assert client.get(f"/stages/{sid}", params={"check": "nothing"}).status_code == 400


@pytest.mark.parametrize(
    "path", ["/stages/ffffffffffff", "/api/stages/ffffffffffff", "/api/stages/fff/signoffs"]
)
def test_unknown_stages_are_404(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404 and "Traceback" not in answer.text


def test_a_signoff_post_needs_the_csrf_token(
    client: TestClient, db_url: str, stages: dict[str, Any]
) -> None:
    sid = stages["second"]["stage_id"]
    before = snapshot(db_url)
    client.get(f"/stages/{sid}")
    form = {"by": "mallory", "decision": "approve"}
    assert client.post(f"/stages/{sid}/signoff", data=form).status_code == 403
    forged = client.post(f"/stages/{sid}/signoff", data={**form, "csrf": "x" * 32})
    assert forged.status_code == 403
    csrf = client.cookies["lgaudit_csrf"]
    unknown = client.post("/stages/ffffffffffff/signoff", data={**form, "csrf": csrf})
    assert unknown.status_code == 404
    nameless = client.post(f"/stages/{sid}/signoff", data={"decision": "approve", "csrf": csrf})
    assert nameless.status_code == 400
    assert snapshot(db_url) == before
    done = client.post(
        f"/stages/{sid}/signoff", data={**form, "csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/stages/{sid}")


def test_recorded_markup_in_a_stage_result_is_text(db_url: str) -> None:
    hostile = "<script>window.__pwned=1</script>"
    with Store(db_url) as store:
        sid = record_stage_result(
            store,
            {
                "suite": hostile,
                "graph": "m:<img src=x onerror=alert(1)>",
                "verdict": "block",
                "checks": [{"name": "traffic", "ok": False, "detail": hostile}],
                "cases": [
                    {"case": hostile, "kind": "scenario", "run_id": None, "outcome": "failed"}
                ],
                "coverage": {"gates": [{"name": hostile, "faulted": False}]},
            },
        )
    with TestClient(create_app(db_url), base_url=LOOPBACK) as c:
        for path in (f"/stages/{sid}", "/stages"):
            html = c.get(path).text
            assert hostile not in html and "<img src=x" not in html
            assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_shadow_page_shows_the_rolling_verdict_and_its_runs(db_url: str) -> None:
    _shadow_once(db_url)
    before = row_counts(db_url)
    with TestClient(create_app(db_url), base_url=LOOPBACK) as c:
        (doc,) = c.get("/api/shadow").json()
        assert (doc["suite"], doc["verdict"], doc["replayed"]) == ("helpers", "promote", 1)
        run = doc["runs"][0]
        html = c.get("/shadow").text
        assert "PROMOTE" in html and f"/diff/{run['source_run_id']}/{run['run_id']}" in html
        assert f"/stages/{doc['stage_id']}" in html
    assert row_counts(db_url) == before


OVERSIGHT = """
[suite]
name = "oversight"
graph = "stage_graphs:payments"
[approval]
gates = ["human_review"]
protected = ["execute_payment"]
approve = ["approve"]
[[scenario]]
name = "approved"
input = { amount = 111 }
humans = ["approve"]
[[scenario]]
name = "turned down"
input = { amount = 222 }
humans = ["reject"]
[gate]
require = ["scenarios", "oversight"]
"""


def test_coverage_shows_each_gates_approve_and_reject_answers(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "oversight.toml"
    path.write_text(OVERSIGHT, encoding="utf-8")
    doc = lg_json(db_url, "stage", str(path))
    assert doc["verdict"] == "promote", doc["checks"]
    (gate,) = doc["coverage"]["gates"]
    assert gate["name"] == "human_review"
    assert gate["answers"] == {"approve": ["approved"], "reject": ["turned down"]}
    with TestClient(create_app(db_url), base_url=LOOPBACK) as c:
        html = c.get(f"/stages/{doc['stage_id']}").text
    row = html.split('id="gate-human_review"')[1].split("</tr>")[0]
    assert '<td class="approve">approved</td>' in row
    assert '<td class="reject">turned down</td>' in row


def test_latency_and_load_figures_are_shown_when_the_stage_has_them(db_url: str) -> None:
    with Store(db_url) as store:
        sid = record_stage_result(
            store,
            {
                "suite": "load",
                "graph": "m:g",
                "verdict": "promote",
                "checks": [{"name": "load", "ok": True, "detail": "p95 0.4 s"}],
                "cases": [],
                "latency": {"cases": {"p50": 0.12, "p95": 0.4}, "nodes": {"agent": {
                    "p50": 0.05, "p95": 0.31, "n": 40}}},
                "load": {"cases": 40, "concurrency": 8, "p50": 0.2, "p95": 0.75,
                         "alone_p95": 0.4, "cases_per_s": 31.5, "rss_growth_mb": 3.2},
            },
        )  # fmt: skip
    with TestClient(create_app(db_url), base_url=LOOPBACK) as c:
        html = c.get(f"/stages/{sid}").text
        plain = c.get(f"/stages/{sid}".replace(sid, sid[:7])).text
    assert "<h2>Latency</h2>" in html and "<td>node agent</td>" in html and "0.31" in html
    assert "<h2>Load</h2>" in html and "cases_per_s" in html and "31.5" in html
    assert plain == html
