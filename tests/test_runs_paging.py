"""``Store.runs`` pages through a store of many runs by key: every run once, newest first
(ties on the start time broken by run id), and a status filter finds runs past the first
page."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner

from lgaudit.cli import cli
from lgaudit.store import NewEvent, NewRun, Store
from lgaudit.store.liveness import LivenessLock

BASE = 1_765_000_000_000_000


def _record(store: Store, n: int, failed: set[int]) -> list[NewRun]:
    runs, events = [], []
    for i in range(n):
        # pairs of runs share a start time: the order must not depend on the page size
        run = NewRun(run_id=str(uuid.uuid4()), thread_id=f"t{i % 7}", started_at=BASE + i // 2)
        runs.append(run)
        events.append(NewEvent(run=run, kind="run_start", payload={}, ts=BASE + i))
        if i in failed:
            error = {"error": {"type": "ValueError", "message": "boom"}}
            events.append(NewEvent(run=run, kind="run_error", payload=error, ts=BASE + i + 1))
        else:
            done = {"status": "succeeded"}
            events.append(NewEvent(run=run, kind="run_end", payload=done, ts=BASE + i + 1))
    store.append(events)
    return runs


def test_runs_page_through_every_run_in_order(store: Store) -> None:
    runs = _record(store, 1_203, failed={3, 1_100})
    newest_first = sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)
    listed = store.runs(limit=None)
    assert [r["run_id"] for r in listed] == [r.run_id for r in newest_first]
    assert [r["run_id"] for r in store.runs(limit=20)] == [r.run_id for r in newest_first[:20]]
    failed = store.runs(status="failed", limit=None)
    assert [r["run_id"] for r in failed] == [runs[1_100].run_id, runs[3].run_id]
    assert [r["run_id"] for r in store.runs(status="failed", limit=1)] == [runs[1_100].run_id]
    thread = store.runs(thread_id="t3", limit=None)
    assert len(thread) == len([i for i in range(1_203) if i % 7 == 3])


STATUSES = ("running", "succeeded", "failed", "interrupted", "abandoned")


def test_a_status_filter_lists_the_runs_of_that_status(store: Store) -> None:
    """Each status filter lists exactly the runs the unfiltered listing shows with that
    status, in the same order: ends read from the events (the last one counts), an
    interrupt from the ``run_end``'s status, ``abandoned`` from the recorder's liveness."""
    live = LivenessLock(store.url)
    dead = LivenessLock(store.url)
    live_id, dead_id = live.acquire(), dead.acquire()
    dead.release()  # its process is gone: its runs are abandoned
    try:
        ends: list[list[tuple[str, dict[str, object]]]] = [
            [("run_end", {"status": "succeeded"})],
            [("run_end", {"status": "succeeded", "output": "interrupted"})],  # not a status
            [("run_end", {"status": "interrupted", "output": None})],
            [("run_error", {"error": {"type": "ValueError", "message": "boom"}})],
            [("run_error", {"error": {"message": "x"}}), ("run_end", {"status": "succeeded"})],
            [("run_end", {"status": "interrupted"}), ("run_error", {"error": {}})],
            [("run_end", {"status": "succeeded"}), ("run_end", {"status": "interrupted"})],
            [],  # no end: running or abandoned, by its recorder
        ]
        recorders: list[object] = [live_id, dead_id, None, 7]
        events = []
        for i in range(3 * len(ends) * len(recorders)):
            run = NewRun(run_id=str(uuid.uuid4()), thread_id=f"t{i % 3}", started_at=BASE + i)
            start = {"recorder": recorders[i % len(recorders)]}
            events.append(NewEvent(run=run, kind="run_start", payload=start, ts=BASE + i))
            for k, (kind, payload) in enumerate(ends[(i // len(recorders)) % len(ends)]):
                events.append(NewEvent(run=run, kind=kind, payload=payload, ts=BASE + i + k))
        store.append(events)
        every = store.runs(limit=None)
        assert {r["status"] for r in every} == set(STATUSES)
        for status in STATUSES:
            expected = [r for r in every if r["status"] == status]
            assert store.runs(status=status, limit=None) == expected, status
            assert store.runs(status=status, limit=3) == expected[:3], status
            assert store.runs(status=status, thread_id="t1", limit=None) == [
                r for r in expected if r["thread_id"] == "t1"
            ]
        assert store.runs(status="unknown", limit=None) == []
        for status in STATUSES:  # the verb takes every status a run can have
            out = CliRunner().invoke(
                cli, ["runs", "--db", store.url, "--status", status, "--limit", "500", "--json"]
            )
            assert out.exit_code == 0, out.output
            listed = [r["run_id"] for r in json.loads(out.stdout)]
            assert listed == [r["run_id"] for r in every if r["status"] == status]
    finally:
        live.release()
