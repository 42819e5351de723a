"""Concurrent recording through one store, and from several processes into one database.

Nothing is lost and nothing is duplicated: every checkpoint is readable, per-run sequences
are gapless, the chain verifies, and no lock error ("database is locked") reaches a caller.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from collections import defaultdict
from typing import Any

from helpers import fetch, put_chain

from lgaudit import AuditSaver, Store

PUTS = 50


def _run_threads(saver: AuditSaver, thread_ids: list[str], *, writes: bool) -> list[str]:
    errors: list[str] = []
    start = threading.Barrier(len(thread_ids))

    def work(thread_id: str) -> None:
        try:
            start.wait()
            put_chain(saver, thread_id, PUTS, writes=writes)
        except BaseException:  # noqa: BLE001 - reported to the test below
            errors.append(traceback.format_exc())

    workers = [threading.Thread(target=work, args=(t,)) for t in thread_ids]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a writer thread hung"
    return errors


def _assert_store_consistent(store: Store, expected_events: int) -> None:
    events = fetch(
        store.url, "SELECT gseq, run_id, seq, kind, checkpoint_id FROM lgaudit_events ORDER BY gseq"
    )
    assert len(events) == expected_events
    assert [e.gseq for e in events] == list(range(1, expected_events + 1))
    by_run: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_run[e.run_id].append(e.seq)
    for run_id, seqs in by_run.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"run {run_id} has gaps or reordering"
    checkpoint_ids = [e.checkpoint_id for e in events if e.kind == "checkpoint"]
    assert len(checkpoint_ids) == len(set(checkpoint_ids)), "a checkpoint was recorded twice"
    result = store.verify()
    assert (result["ok"], result["events_checked"], result["first_bad"]) == (
        True,
        expected_events,
        None,
    )


def _assert_all_readable(saver: AuditSaver, per_thread: dict[str, int]) -> None:
    """Every checkpoint is listed once and reads back with its own values."""
    counts: dict[str, list[int]] = defaultdict(list)
    for tup in saver.list(None):
        values = tup.checkpoint["channel_values"]
        assert values["who"] == tup.config["configurable"]["thread_id"]
        counts[values["who"]].append(values["count"])
    assert {t: len(c) for t, c in counts.items()} == per_thread
    for thread_id, n in per_thread.items():
        assert sorted(counts[thread_id]) == sorted(list(range(PUTS)) * (n // PUTS))
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
        assert latest is not None
        assert latest.checkpoint["channel_values"]["count"] == PUTS - 1


def test_threads_through_one_saver(store: Store) -> None:
    """8 threads x 50 puts through one saver: 6 distinct threads, 2 of them shared."""
    saver = AuditSaver(store)
    thread_ids = [f"t{i}" for i in range(6)] + ["t0", "t1"]
    errors = _run_threads(saver, thread_ids, writes=False)
    assert errors == []
    _assert_store_consistent(store, expected_events=len(thread_ids) * PUTS)
    _assert_all_readable(saver, {t: thread_ids.count(t) * PUTS for t in set(thread_ids)})


def _process_worker(url: str, thread_id: str, barrier: Any, errors: Any) -> None:
    try:
        store = Store(url)
        try:
            saver = AuditSaver(store)
            barrier.wait(timeout=60)
            put_chain(saver, thread_id, PUTS, writes=True)
        finally:
            store.close()
    except BaseException:  # noqa: BLE001 - reported to the parent
        errors.put(traceback.format_exc())


def test_processes_into_one_database(store: Store) -> None:
    """3 processes x 50 puts (and a put_writes after each), each process its own Store."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    errors = ctx.Queue()
    names = [f"proc-{i}" for i in range(3)]
    procs = [
        ctx.Process(target=_process_worker, args=(store.url, n, barrier, errors)) for n in names
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert not any(p.is_alive() for p in procs), "a writer process hung"
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    assert [p.exitcode for p in procs] == [0, 0, 0]

    _assert_store_consistent(store, expected_events=3 * PUTS * 2)
    with Store.open(store.url) as reader:
        saver = AuditSaver(reader)
        _assert_all_readable(saver, {n: PUTS for n in names})
        # each checkpoint carries the pending write recorded after it
        latest = saver.get_tuple({"configurable": {"thread_id": "proc-1"}})
        assert [(ch, v) for _task, ch, v in latest.pending_writes] == [("count", PUTS)]
