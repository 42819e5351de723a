"""The writer process: a batched recorder appends from a process of its own.

* a batched ``Recorder`` starts a writer process once it has written ``process_after``
  events (or when asked: ``start_process``) and hands it its batches once it is ready;
  everything recorded reaches the store, complete and verifiable; ``close`` ends it;
* ``LGAUDIT_WRITER=thread`` keeps the writer in the graph's process; a bad value is refused;
* a writer process killed between runs or in the middle of one loses nothing and writes
  nothing twice: the recorder finds out whether the batch in flight was committed (one
  committed and then killed before its answer was read is not written again) and writes
  the rest itself;
* a batch the process cannot take (an object pickle cannot carry) is written in the graph's
  process, in order, and the process goes on taking the next ones;
* a writer process whose recorder was killed (kill -9) commits what it was handed and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_durability import Outage, assert_complete, pg_only, trail_graph, wait_until

from lgaudit import Recorder, Store
from lgaudit.codec.serialization import blob_hash
from lgaudit.errors import BadInputError, StoreUnavailableError
from lgaudit.log.append import ChainWriter, plan_append
from lgaudit.log.chain import event_hash_of, rows_digest
from lgaudit.log.writer_process import AppenderGone
from lgaudit.recorder.batching import BatchedWriter
from lgaudit.store import NewEvent, NewRun

TRAIL = ["first", "second", "third"]


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_until_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_batched_recorder_appends_from_a_writer_process(db_url: str) -> None:
    rec = Recorder(db_url)
    try:
        assert isinstance(rec.sink, BatchedWriter)
        assert rec.sink.start_process(), "the writer process did not start"
        pid = rec.sink.process_id
        assert pid is not None and pid != os.getpid() and not gone(pid)
        graph = rec.attach(trail_graph())
        for thread in ("a", "b"):
            assert graph.invoke({"trail": []}, {"configurable": {"thread_id": thread}}) == {
                "trail": TRAIL
            }
        rec.flush()
        assert rec.sink.process_id == pid  # every batch went there: it is still in use
        with Store.open(db_url) as reader:  # another connection sees it all
            runs = reader.runs(limit=None)
            assert sorted(r["thread_id"] for r in runs) == ["a", "b"]
            for r in runs:
                assert r["status"] == "succeeded"
                assert_complete(reader, r["run_id"], TRAIL)
            assert reader.verify()["ok"]
    finally:
        rec.close()
    assert wait_until_gone(pid, 10), "close() left the writer process running"


def test_a_busy_writer_starts_its_process_by_itself(db_url: str) -> None:
    store = Store(db_url)
    writer = BatchedWriter(store, process=True, process_after=10)
    run = NewRun(run_id=str(uuid.uuid4()), thread_id="busy")
    try:
        i = 0
        deadline = time.monotonic() + 60
        while writer.process_id is None and time.monotonic() < deadline:
            writer.submit([NewEvent(run=run, kind="custom", payload={"i": i})])
            writer.flush(30)
            i += 1
        assert writer.process_id is not None, "no writer process after 60 s of writes"
        assert i > 10  # not before ``process_after`` events were written here
        writer.submit([NewEvent(run=run, kind="custom", payload={"i": i})])
        writer.close(timeout=30)
        with Store.open(db_url) as reader:
            recorded = reader.events(run.run_id)
            assert [e["payload"]["i"] for e in recorded] == list(range(i + 1))
            assert [e["seq"] for e in recorded] == list(range(1, i + 2))
            assert reader.verify()["ok"]
    finally:
        writer.close(timeout=30)
        store.close()


def test_the_writer_stays_in_process_when_asked(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGAUDIT_WRITER", "thread")
    with Recorder(db_url) as rec:
        assert not rec.sink.start_process(timeout=1)
        assert rec.sink.process_id is None
        graph = rec.attach(trail_graph())
        graph.invoke({"trail": []}, {"configurable": {"thread_id": "t"}})
        rec.flush()
        (run,) = rec.store.runs()
        assert_complete(rec.store, run["run_id"], TRAIL)

    monkeypatch.setenv("LGAUDIT_WRITER", "fork")
    with pytest.raises(BadInputError, match="LGAUDIT_WRITER must be 'process' or 'thread'"):
        Recorder(db_url)


@pytest.mark.parametrize("when", ["between runs", "mid-run"])
def test_a_killed_writer_process_loses_nothing(db_url: str, when: str) -> None:
    rec = Recorder(db_url)
    try:
        assert rec.sink.start_process()
        pid = rec.sink.process_id
        assert pid is not None

        def kill(state: Any) -> None:
            if state.get("trail") == ["first"] and not gone(pid):
                os.kill(pid, signal.SIGKILL)
                assert wait_until_gone(pid, 10)

        graph = rec.attach(trail_graph(kill if when == "mid-run" else None))
        graph.invoke({"trail": []}, {"configurable": {"thread_id": "one"}})
        if when == "between runs":
            rec.flush()
            os.kill(pid, signal.SIGKILL)
            assert wait_until_gone(pid, 10)
        assert graph.invoke({"trail": []}, {"configurable": {"thread_id": "two"}}) == {
            "trail": TRAIL
        }
        rec.flush()
        assert rec.sink.process_id is None  # the recorder writes itself from now on
        with Store.open(db_url) as reader:
            runs = reader.runs(limit=None)
            assert sorted(r["thread_id"] for r in runs) == ["one", "two"]
            events = [assert_complete(reader, r["run_id"], TRAIL) for r in runs]
            # both runs recorded the same kinds of events: nothing lost, nothing twice
            assert sorted(e["kind"] for e in events[0]) == sorted(e["kind"] for e in events[1])
            assert reader.verify()["ok"]
    finally:
        rec.close()


def test_a_batch_committed_by_a_writer_process_that_died_before_answering_is_not_written_twice(
    db_url: str,
) -> None:
    """The process commits a batch and is killed before its answer is read: the recorder
    finds the batch in the store and does not append it again."""
    rec = Recorder(db_url)
    try:
        assert rec.sink.start_process()
        appender = rec.sink._appender
        assert appender is not None
        receive = appender._recv
        lost: list[int] = []

        def answer_lost() -> tuple[Any, ...]:
            reply = receive()
            if reply[0] == "ok" and not lost:  # committed; the answer never arrives
                lost.append(reply[1])
                os.kill(appender.pid, signal.SIGKILL)
                assert wait_until_gone(appender.pid, 10)
                raise AppenderGone("writer process exited before answering")
            return reply

        appender._recv = answer_lost  # type: ignore[method-assign]
        graph = rec.attach(trail_graph())
        for thread in ("one", "two"):
            assert graph.invoke({"trail": []}, {"configurable": {"thread_id": thread}}) == {
                "trail": TRAIL
            }
        rec.flush()
        assert lost and lost[0] > 0  # a batch was committed whose answer was lost
        assert rec.sink.process_id is None  # the recorder writes itself from now on
        with Store.open(db_url) as reader:
            runs = reader.runs(limit=None)
            assert sorted(r["thread_id"] for r in runs) == ["one", "two"]
            events = [assert_complete(reader, r["run_id"], TRAIL) for r in runs]
            assert [e["kind"] for e in events[0]] == [e["kind"] for e in events[1]]
            assert reader.verify()["ok"]
    finally:
        rec.close()


@pg_only
def test_the_writer_process_reports_a_store_outage_and_loses_nothing(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """During an outage the writer process retries; each failed attempt is counted, kept
    as ``last_error`` and logged in the recorder's process, and once the store is back the
    run is written exactly once, by the same process."""
    caplog.set_level(logging.ERROR, logger="lgaudit")
    outage = Outage(db_url)
    rec = Recorder(db_url)
    errors: list[BaseException] = []

    def run_down() -> None:
        try:
            graph.invoke({"trail": [], "outage": True}, {"configurable": {"thread_id": "down"}})
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    worker = threading.Thread(target=run_down, daemon=True)
    try:
        assert rec.sink.start_process()
        pid = rec.sink.process_id
        graph = rec.attach(trail_graph(lambda s: s.get("outage") and outage.start()))
        worker.start()
        wait_until(lambda: rec.sink.failures > 0, 30, "the writer process to report the outage")
        assert isinstance(rec.sink.last_error, StoreUnavailableError)
        assert str(rec.sink.last_error).startswith("store unavailable")
        assert rec.sink.pending > 0  # held, not dropped
        logged = [r.getMessage() for r in caplog.records if r.name == "lgaudit"]
        assert any("store write failed" in m for m in logged), logged

        outage.end()
        worker.join(60)
        assert not worker.is_alive() and not errors, errors
        rec.flush()
        assert rec.sink.pending == 0 and rec.sink.healthy
        assert rec.sink.process_id == pid  # the same process wrote it, once the store was back
        with Store.open(db_url) as reader:
            (run,) = reader.runs(limit=None)
            assert run["status"] == "succeeded"
            assert_complete(reader, run["run_id"], TRAIL)
            assert reader.verify()["ok"]
    finally:
        outage.end()
        worker.join(60)
        rec.close()


class Unpicklable:
    """Pickle refuses it (it holds a lambda); the canonical JSON of a payload shows it as
    its ``str``."""

    def __init__(self) -> None:
        self.fn = lambda: None

    def __str__(self) -> str:
        return "<an object pickle cannot carry>"


def test_a_batch_that_cannot_travel_is_written_in_process(db_url: str) -> None:
    store = Store(db_url)
    writer = BatchedWriter(store, process=True)
    run = NewRun(run_id=str(uuid.uuid4()), thread_id="odd")

    def event(data: Any) -> list[NewEvent]:
        return [NewEvent(run=run, kind="custom", payload={"data": data}, thread_id="odd")]

    try:
        assert writer.start_process()
        writer.submit(event(1))
        writer.flush(30)
        writer.submit(event(Unpicklable()))
        writer.flush(30)
        writer.submit(event(3))
        writer.flush(30)
        assert writer.process_id is not None  # still taking the batches that can travel
        with Store.open(db_url) as reader:
            recorded = reader.events(run.run_id)
            assert [e["payload"]["data"] for e in recorded] == [
                1,
                "<an object pickle cannot carry>",
                3,
            ]
            assert [e["seq"] for e in recorded] == [1, 2, 3]
            assert reader.verify()["ok"]
    finally:
        writer.close(timeout=30)
        store.close()


ORPHANED = textwrap.dedent(
    """
    import os, signal, sys
    from lgaudit import Recorder
    from lgaudit.store import NewEvent, NewRun

    recorder = Recorder(sys.argv[1])
    assert recorder.sink.start_process()
    run = NewRun(run_id=sys.argv[2], thread_id="orphan")
    recorder.sink.submit([NewEvent(run=run, kind="custom", payload={"i": 0})])
    recorder.flush()
    print(recorder.sink.process_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_the_writer_process_exits_when_its_recorder_is_killed(db_url: str, tmp_path: Path) -> None:
    run_id = str(uuid.uuid4())
    proc = subprocess.run(
        [sys.executable, "-c", ORPHANED, db_url, run_id],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr[-2000:]  # the app's stderr is the process's too
    pid = int(proc.stdout.split()[0])
    assert wait_until_gone(pid, 30), "the writer process outlived its recorder"
    with Store.open(db_url) as reader:
        (event,) = reader.events(run_id)
        assert event["payload"]["i"] == 0
        assert reader.verify()["ok"]


def _append_blobs(writer: ChainWriter, run: NewRun, count: int, size: int) -> None:
    """``count`` appends of one event carrying a fresh ``size``-byte blob each."""
    for i in range(count):
        blob = ("bytes", os.urandom(size))
        events = [
            NewEvent(run=run, kind="custom", payload={"i": i}, blobs={blob_hash(*blob): blob})
        ]
        writer.append(events, *plan_append(events, (), ()))


def test_the_writer_process_copies_the_sqlite_wal_back_from_a_thread(tmp_path: Path) -> None:
    """SQLite: the writer process's commits leave the WAL to a thread of their own, which
    copies it back into the database file once a few MB were appended."""
    url = f"sqlite:///{tmp_path}/lgaudit.db"
    Store(url).close()
    db = tmp_path / "lgaudit.db"
    run = NewRun(run_id=str(uuid.uuid4()), thread_id="wal")
    writer = ChainWriter(url, event_hash_of, rows_digest, background_checkpoints=True)
    try:
        _append_blobs(writer, run, 24, 256 * 1024)  # 6 MB, past the 4 MB mark
        wait_until(lambda: db.stat().st_size > 4 << 20, 30, "the WAL copied into the database")
    finally:
        writer.close()
    with Store.open(url) as store:
        assert [e["payload"]["i"] for e in store.events(run.run_id)] == list(range(24))
        assert store.verify()["ok"]


def test_the_writer_process_wal_stays_bounded_under_sustained_writes(tmp_path: Path) -> None:
    """However far the copying thread falls behind, the WAL of a writer that never pauses is
    still copied back by its own commits (a backstop): it never grows without bound."""
    url = f"sqlite:///{tmp_path}/lgaudit.db"
    Store(url).close()
    run = NewRun(run_id=str(uuid.uuid4()), thread_id="wal")
    writer = ChainWriter(url, event_hash_of, rows_digest, background_checkpoints=True)
    wal = tmp_path / "lgaudit.db-wal"
    largest = 0
    try:
        for _ in range(64):  # 64 MB in all
            _append_blobs(writer, run, 1, 1 << 20)
            largest = max(largest, wal.stat().st_size)
    finally:
        writer.close()
    # the backstop copies it back past 16 MB; a commit that meets the thread's copy in
    # progress skips it, so a loaded machine overshoots by a few commits
    assert largest < 40 << 20, f"WAL reached {largest >> 20} MB of 64 MB written"
    with Store.open(url) as store:
        assert store.verify()["ok"] and len(store.events(run.run_id)) == 64
