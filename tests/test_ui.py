"""``lgaudit ui`` without a browser (Starlette's TestClient), on SQLite and PostgreSQL: its
pages and their JSON, 404 pages for unknown ids, escaping of recorded markup, the token off
loopback, the CSRF token on writes, and the graph's structure recorded at ``run_start``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import row_counts
from starlette.testclient import TestClient
from ui_graphs import HOSTILE_ARG, HOSTILE_NODE, HOSTILE_STATE, record_ui_runs

from lgaudit import Store, diff, kills
from lgaudit.cli import cli
from lgaudit.store.run_queries import STATUSES
from lgaudit.ui import create_app

LOOPBACK = "http://127.0.0.1:8765"


@pytest.fixture
def recorded(db_url: str) -> dict[str, str]:
    return record_ui_runs(db_url)


@pytest.fixture
def client(db_url: str, recorded: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(db_url), base_url=LOOPBACK) as c:
        yield c


def _cli_json(db_url: str, *args: str) -> Any:
    import json

    out = CliRunner().invoke(cli, ["--db", db_url, *args, "--json"])
    return json.loads(out.output)


def test_runs_page_filters_counts_and_its_json_is_lgaudit_runs(
    client: TestClient, db_url: str, recorded: dict[str, str]
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "succeeded <b>3</b>" in page.text and "failed <b>1</b>" in page.text
    failed = client.get("/", params={"status": "failed"})
    assert recorded["charge"][:12] in failed.text
    assert recorded["letter_a"][:12] not in failed.text
    letters = client.get("/", params={"graph": "letters"})
    assert recorded["letter_a"][:12] in letters.text and recorded["charge"][:12] not in letters.text
    assert client.get("/api/runs").json() == _cli_json(db_url, "runs")
    wanted = _cli_json(db_url, "runs", "--graph", "letters")
    assert client.get("/api/runs", params={"graph": "letters"}).json() == wanted
    assert client.get("/", params={"status": "exploded"}).status_code == 400


def test_run_page_shows_the_graph_steps_state_change_and_replay_command(
    client: TestClient, db_url: str, recorded: dict[str, str]
) -> None:
    run_id = recorded["letter_a"]
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    html = page.text
    # the graph's nodes and edges recorded at run_start, drawn with visit counts
    for node in ("__start__", "draft", "sign", "__end__"):
        assert f'data-node="{node}"' in html
    assert "draft ×1" in html and "taken" in html
    # the state change of the draft step, not the whole state again
    assert "Dear Alice, your order 4411 has shipped today. Thanks!" in html
    assert f"lgaudit replay {run_id} --from-step 1 --graph" in html
    shown = client.get(f"/api/runs/{run_id}").json()
    assert shown["run"]["run_id"] == run_id
    assert [e["seq"] for e in shown["events"]] == [
        e["seq"] for e in _cli_json(db_url, "show", run_id)["events"]
    ]


def test_the_graph_structure_is_recorded_at_run_start(
    db_url: str, recorded: dict[str, str]
) -> None:
    with Store.open(db_url) as store:
        start = store.events(recorded["letter_a"], kinds=["run_start"])[0]
    shape = start["payload"]["graph_shape"]
    assert set(shape["nodes"]) == {"__start__", "draft", "sign", "__end__"}
    assert ["draft", "sign", False] in shape["edges"]


def test_findings_link_to_their_step(client: TestClient, recorded: dict[str, str]) -> None:
    html = client.get(f"/runs/{recorded['charge']}").text
    assert "run.error" in html
    assert f'href="/runs/{recorded["charge"]}?page=1#step-2"' in html
    assert '<details class="step flagged" id="step-2">' in html


def test_diff_page_marks_the_first_divergence_and_highlights_the_changed_text(
    client: TestClient, db_url: str, recorded: dict[str, str]
) -> None:
    a, b = recorded["letter_a"], recorded["letter_b"]
    page = client.get(f"/diff/{a}/{b}")
    assert page.status_code == 200
    assert 'id="first-divergence"' in page.text
    assert "<mark>ia</mark>" in page.text  # Alice -> Alicia: only the new letters marked
    assert client.get(f"/api/diff/{a}/{b}").json() == diff(a, b, url=db_url).to_json()
    ignoring = client.get(
        f"/api/diff/{a}/{b}", params=[("ignore", "state.name"), ("ignore", "state.letter")]
    )
    assert ignoring.json()["identical"] is True


def test_recorded_markup_is_escaped_everywhere(
    client: TestClient, recorded: dict[str, str]
) -> None:
    html = client.get(f"/runs/{recorded['hostile']}").text
    for raw in (HOSTILE_NODE, HOSTILE_STATE, HOSTILE_ARG):
        assert raw not in html
    assert "&lt;script&gt;window.__pwned_node=1&lt;/script&gt;" in html
    assert "&lt;script&gt;window.__pwned_tool=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    listing = client.get("/", params={"thread": "hostile"}).text
    assert "<script>window" not in listing


@pytest.mark.parametrize(
    "path",
    [
        "/runs/ffffffffffff",
        "/diff/ffffffffffff/eeeeeeeeeeee",
        "/api/runs/ffffffffffff",
        "/api/diff/ffffffffffff/eeeeeeeeeeee",
        "/no/such/page",
    ],
)
def test_unknown_ids_give_404_pages(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert "Traceback" not in answer.text


def test_unknown_stage_ids_are_404_not_tracebacks(client: TestClient) -> None:
    answer = client.get("/stages/ffffffffffff")
    assert answer.status_code == 404 and "Traceback" not in answer.text


def test_a_post_without_the_csrf_token_is_refused_and_the_store_unchanged(
    client: TestClient, db_url: str
) -> None:
    before = row_counts(db_url)
    client.get("/kills")  # the CSRF cookie is set
    assert client.cookies.get("lgaudit_csrf")
    missing = client.post("/kills", data={"reason": "stop", "environment": "ui-test"})
    wrong = client.post(
        "/kills", data={"reason": "stop", "environment": "ui-test", "csrf": "x" * 32}
    )
    assert (missing.status_code, wrong.status_code) == (403, 403)
    fresh = TestClient(client.app, base_url=LOOPBACK)  # no cookie at all
    forged = fresh.post("/kills", data={"reason": "stop", "csrf": "x" * 32})
    assert forged.status_code == 403
    assert row_counts(db_url) == before
    assert kills(url=db_url) == []


def test_kill_orders_are_issued_and_lifted_from_the_page(client: TestClient, db_url: str) -> None:
    client.get("/kills")
    csrf = client.cookies["lgaudit_csrf"]
    issued = client.post(
        "/kills",
        data={"reason": "runaway <b>loop</b>", "environment": "ui-test", "csrf": csrf},
        follow_redirects=False,
    )
    assert issued.status_code == 303
    [order] = kills(url=db_url)
    assert order.active and order.environment == "ui-test"
    page = client.get("/kills").text
    assert "runaway &lt;b&gt;loop&lt;/b&gt;" in page and "in force" in page
    assert "0 live recorders, 0 running runs" in page
    from lgaudit import Recorder

    with Recorder(db_url, environment="ui-test") as live:  # a recorder the order reaches
        live.live_id()
        assert "1 live recorder, 0 running runs" in client.get("/kills").text
    assert client.get("/api/kills").json() == _cli_json(db_url, "kills")
    bad = client.post("/kills", data={"reason": "", "csrf": csrf})
    assert bad.status_code == 400 and "reason" in bad.text
    lifted = client.post("/kills", data={"lift": order.id, "csrf": csrf}, follow_redirects=False)
    assert lifted.status_code == 303
    assert not kills(url=db_url)[0].active


def test_off_loopback_every_request_needs_the_token(db_url: str, recorded: dict[str, str]) -> None:
    before = row_counts(db_url)
    app = create_app(db_url, token="s3cret-token")
    with TestClient(app, base_url="http://192.0.2.10:8765") as c:
        for path in ("/", f"/runs/{recorded['letter_a']}", "/api/runs", "/static/ui.css"):
            assert c.get(path).status_code == 401
        assert c.post("/kills", data={"reason": "x"}).status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get("/", params={"token": "s3cret-token"}).status_code == 200
        assert c.get(f"/runs/{recorded['letter_a']}").status_code == 200  # the cookie now
    assert row_counts(db_url) == before


def test_without_a_token_only_loopback_host_names_are_served(client: TestClient) -> None:
    served = client.get("/")
    assert served.status_code == 200
    assert "script-src 'self'" in served.headers["content-security-policy"]
    assert served.headers["x-frame-options"] == "DENY"
    rebound = client.get("/", headers={"Host": "attacker.example:8765"})
    assert rebound.status_code == 400


def test_cli_refuses_an_empty_token(db_url: str, recorded: dict[str, str]) -> None:
    out = CliRunner().invoke(cli, ["--db", db_url, "ui", "--token", " "])
    assert out.exit_code == 2
    assert "--token" in out.output


def test_a_long_run_is_paged_and_the_thread_tree_shows_its_fork(db_url: str) -> None:
    from ui_graphs import counter_graph

    from lgaudit import Recorder

    with Recorder(db_url) as rec:
        graph = rec.attach(counter_graph(130))
        cfg: dict[str, Any] = {"configurable": {"thread_id": "long"}, "recursion_limit": 500}
        graph.invoke({"n": 0}, cfg)
        # time travel: go on from the checkpoint of step 50 (a second branch of the thread)
        earlier = next(s for s in graph.get_state_history(cfg) if s.metadata["step"] == 50)
        graph.invoke(None, earlier.config)
        rec.flush()
        first, forked = reversed(rec.store.runs(thread_id="long", limit=None))
    with TestClient(create_app(db_url), base_url=LOOPBACK) as client:
        page = client.get(f"/runs/{first['run_id']}")
        assert page.status_code == 200
        assert 'id="step-99"' in page.text and 'id="step-100"' not in page.text
        assert "page 1 of 2" in page.text
        second = client.get(f"/runs/{first['run_id']}", params={"page": 2})
        assert 'id="step-100"' in second.text and 'id="step-99"' not in second.text
        assert client.get(f"/runs/{first['run_id']}", params={"page": 3}).status_code == 400
        tree = page.text.split('id="checkpoints"')[1]
        assert "fork: 2 branches" in tree
        assert forked["run_id"][:12] in tree  # the branch made by time travel


def test_lgaudit_ui_serves_and_off_loopback_prints_the_token(
    db_url: str, recorded: dict[str, str]
) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [sys.executable, "-m", "lgaudit.cli", "--db", db_url, "ui", "--host", "0.0.0.0"]
    proc = subprocess.Popen(
        [*args, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        text=True,
    )  # fmt: skip
    try:
        token_line = proc.stdout.readline() if proc.stdout else ""
        assert "every request needs the token" in token_line, token_line
        token = token_line.rsplit(" ", 1)[-1].strip()
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                refused = httpx.get(base + "/")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert refused.status_code == 401
        served = httpx.get(base + "/", params={"token": token})
        assert served.status_code == 200 and recorded["charge"][:12] in served.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_status_counts_agree_with_the_runs_each_status_lists(store: Store) -> None:
    """The run list's counts (one grouped query over the newest runs' last ends, liveness
    for runs with none) are the numbers ``Store.runs`` lists per status, and a window of
    the newest runs counts only those."""
    import uuid

    from lgaudit.store import NewEvent, NewRun
    from lgaudit.store.liveness import LivenessLock
    from lgaudit.store.run_counts import status_counts

    base = 1_765_000_000_000_000
    live, dead = LivenessLock(store.url), LivenessLock(store.url)
    live_id, dead_id = live.acquire(), dead.acquire()
    dead.release()
    try:
        ends: list[list[tuple[str, dict[str, Any]]]] = [
            [("run_end", {"status": "succeeded"})],
            [("run_end", {"status": "succeeded", "output": "interrupted"})],
            [("run_end", {"status": "interrupted"})],
            [("run_error", {"error": {"type": "ValueError"}})],
            [("run_error", {"error": {}}), ("run_end", {"status": "succeeded"})],
            [("run_end", {"status": "interrupted"}), ("run_error", {"error": {}})],
            [],
        ]
        recorders: list[object] = [live_id, dead_id]
        events = []
        for i in range(len(ends) * len(recorders) * 3):
            run = NewRun(run_id=str(uuid.uuid4()), thread_id=f"t{i % 2}", started_at=base + i)
            start = {"recorder": recorders[i % 2]}
            events.append(NewEvent(run=run, kind="run_start", payload=start, ts=base + i))
            for k, (kind, payload) in enumerate(ends[(i // 2) % len(ends)]):
                events.append(NewEvent(run=run, kind=kind, payload=payload, ts=base + i + k))
        store.append(events)
        every = store.runs(limit=None)
        wanted = {s: sum(r["status"] == s for r in every) for s in STATUSES}
        assert all(wanted.values())  # every status is there
        assert status_counts(store) == {"counts": wanted, "counted": len(every), "total": 42}
        t1 = [r for r in every if r["thread_id"] == "t1"]
        counts = status_counts(store, thread_id="t1")["counts"]
        assert counts == {s: sum(r["status"] == s for r in t1) for s in STATUSES}
        newest = every[:10]
        window = status_counts(store, window=10)
        assert window["counts"] == {s: sum(r["status"] == s for r in newest) for s in STATUSES}
        assert (window["counted"], window["total"]) == (10, len(every))
    finally:
        live.release()


def test_a_resumed_runs_first_step_changes_from_the_interrupted_state(db_url: str) -> None:
    """The approval agent, interrupted and then resumed: the resumed run's first step shows
    what the approval changed, not the whole state as if from nothing."""
    from helpers import record_demo_runs

    resumed = record_demo_runs(db_url)[0]
    with TestClient(create_app(db_url), base_url=LOOPBACK) as client:
        html = client.get(f"/runs/{resumed['run_id']}").text
    first = html.split('<details class="step', 1)[1].split("</table>", 1)[0]
    assert "<code>approved</code>" in first and "changed" in first
    assert "<code>messages</code>" not in first


def test_a_diff_is_kept_only_once_both_runs_have_ended(store: Store) -> None:
    """The next page of a diff reuses it when both runs have ended; a run still recording
    is diffed afresh on every ask (what it recorded since shows)."""
    import uuid

    from lgaudit.store import NewEvent, NewRun

    done, going = (NewRun(run_id=str(uuid.uuid4()), thread_id=t) for t in ("x", "y"))
    store.append(
        [
            NewEvent(run=done, kind="run_start", payload={}),
            NewEvent(run=done, kind="run_end", payload={"status": "succeeded"}),
            NewEvent(run=going, kind="run_start", payload={}),
        ]
    )
    with TestClient(create_app(store.url), base_url=LOOPBACK) as client:
        path = f"/api/diff/{done.run_id}/{going.run_id}"
        assert client.get(path).json()["identical"] is False  # succeeded vs running
        store.append([NewEvent(run=going, kind="run_end", payload={"status": "succeeded"})])
        assert client.get(path).json()["identical"] is True
        # both ended: kept, so a change behind its back (none can happen) would not show
        assert client.get(f"/diff/{done.run_id}/{going.run_id}").status_code == 200
        assert len(client.app.state.ui.cache) == 1
