"""``Store.runs`` pages through a store of many runs by key: every run once, newest first
(ties on the start time broken by run id), and a status filter finds runs past the first
page."""

from __future__ import annotations

import uuid

from lgaudit.store import NewEvent, NewRun, Store

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
