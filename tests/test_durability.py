"""Durability: what is recorded survives flushes, store outages and a killed process.

* batched: ``flush()`` puts every submitted event in the store (a second reader sees them),
  runs are complete and gapless;
* ``durability="sync"`` is fail-closed: when the store goes away mid-run the graph run fails
  with lgaudit's ``StoreUnavailableError`` and the graph does not go on;
* batched with the store down mid-run: the graph does not crash, the failure is counted and
  logged, and once the store is back every event is written exactly once;
* a COMMIT that succeeded but whose answer was lost (a TCP proxy cuts the connection) is
  not appended a second time;
* ``kill -9`` in the middle of a run: the chain still verifies and the run, with the events
  flushed before the kill, is in the store as ``running``.

Store outages. PostgreSQL: the database stops accepting connections and its open
connections are terminated (``ALTER DATABASE … ALLOW_CONNECTIONS false`` +
``pg_terminate_backend``), which is what a failover or a restart looks like to a client.
SQLite has no such switch: file permissions do not stop root, and a lock held by another
connection (``BEGIN EXCLUSIVE``) only makes lgaudit wait — its busy timeout is 30 s and a
locked database is retried 8 times — so a SQLite "outage" cannot fail a write in reasonable
test time. The fail-closed and failure-counting tests therefore run on PostgreSQL only;
the "an unavailable store never blocks the graph" test uses the lock on SQLite, where a
held lock is exactly a store that does not take writes.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Any, TypedDict

import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from sqlalchemy.engine import make_url

from lgaudit import Recorder, Store
from lgaudit.demo import STAGING_INPUT, staging
from lgaudit.errors import StoreUnavailableError
from lgaudit.recorder.batching import BatchedWriter
from lgaudit.store import NewEvent, NewRun

PG_ADMIN = os.environ.get("LGAUDIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
STAGING_NODES = ["plan", "execute", "review", "plan", "execute", "review"]
pg_only = pytest.mark.parametrize("backend", ["postgresql"])


class Outage:
    """Makes the store at ``url`` unavailable (``start``) and available again (``end``)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        self.name = parsed.database
        self._lock: sqlite3.Connection | None = None
        self.active = False

    def start(self) -> None:
        if self.backend == "sqlite":
            self._lock = sqlite3.connect(
                self.name, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._lock.execute("BEGIN EXCLUSIVE")
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.name,),
                )
        self.active = True

    def end(self) -> None:
        if not self.active:
            return
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        self.active = False


class TrailState(TypedDict, total=False):
    trail: list[str]
    outage: bool


def trail_graph(on_second: Any = None, ran: list[str] | None = None) -> Any:
    """first -> second -> third; ``on_second(state)`` runs inside the second node."""

    def node(name: str) -> Any:
        def fn(state: TrailState) -> dict[str, Any]:
            if ran is not None:
                ran.append(name)
            if name == "second" and on_second is not None:
                on_second(state)
            return {"trail": [*state.get("trail", []), name]}

        return fn

    builder = StateGraph(TrailState)
    for name in ("first", "second", "third"):
        builder.add_node(name, node(name))
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", "third")
    builder.add_edge("third", END)
    return builder.compile(name="trail")


def assert_complete(store: Store, run_id: str, nodes: list[str]) -> list[Any]:
    """One whole run: seq 1..n, one run_start first, one run_end last, each node once."""
    events = store.events(run_id)
    kinds = [e["kind"] for e in events]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert kinds[0] == "run_start" and kinds[-1] == "run_end", kinds
    assert kinds.count("run_start") == 1 and kinds.count("run_end") == 1, kinds
    assert [e["node"] for e in events if e["kind"] == "node_end"] == nodes
    assert [e["node"] for e in events if e["kind"] == "node_start"] == nodes
    checkpoint_ids = [e["checkpoint_id"] for e in events if e["kind"] == "checkpoint"]
    assert len(checkpoint_ids) == len(set(checkpoint_ids)), "a checkpoint was recorded twice"
    return events


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# -- (a) batched: flush writes everything ------------------------------------------------------


def test_batched_flush_puts_every_event_in_the_store(db_url: str) -> None:
    rec = Recorder(db_url, environment="staging", durability="batched")
    try:
        graph = rec.attach(staging())
        # mid-run: flush() drains what the run has recorded so far; another reader sees it
        stream = graph.stream(
            dict(STAGING_INPUT), {"configurable": {"thread_id": "t-0"}}, stream_mode="updates"
        )
        assert next(stream) == {"plan": {"step": 1}}
        rec.flush()
        assert rec.sink.pending == 0
        with Store.open(db_url) as reader:
            (run,) = reader.runs()
            assert run["status"] == "running"
            events = reader.events(run["run_id"])
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert events[0]["kind"] == "run_start"
            assert ("node_end", "plan") in [(e["kind"], e["node"]) for e in events]
        rest = list(stream)
        assert rest[-1] == {"review": {"approved": True}}

        for i in range(1, 5):
            out = graph.invoke(dict(STAGING_INPUT), {"configurable": {"thread_id": f"t-{i}"}})
            assert out["approved"] is True
        rec.flush()
        assert rec.sink.pending == 0 and rec.sink.failures == 0

        with Store.open(db_url) as reader:
            runs = reader.runs(limit=None)
            assert sorted(r["thread_id"] for r in runs) == [f"t-{i}" for i in range(5)]
            assert {r["status"] for r in runs} == {"succeeded"}
            assert {r["environment"] for r in runs} == {"staging"}
            total = 0
            for r in runs:
                events = assert_complete(reader, r["run_id"], STAGING_NODES)
                assert r["event_count"] == len(events)
                total += len(events)
            result = reader.verify()
            assert result["ok"], result
            assert result["events_checked"] == total
    finally:
        rec.close()


# -- (b) sync: a store outage fails the run -------------------------------------------------


@pg_only
def test_sync_store_outage_fails_the_run(db_url: str) -> None:
    outage = Outage(db_url)
    ran: list[str] = []
    rec = Recorder(db_url, durability="sync")
    try:
        graph = rec.attach(trail_graph(lambda s: s.get("outage") and outage.start(), ran))
        assert graph.invoke({"trail": []}, {"configurable": {"thread_id": "before"}}) == {
            "trail": ["first", "second", "third"]
        }
        ran.clear()

        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="store unavailable"):
            graph.invoke({"trail": [], "outage": True}, {"configurable": {"thread_id": "down"}})
        assert time.monotonic() - started < 30, "fail-closed must fail, not hang"
        # fail-closed: the step whose record could not be written is where the graph stops
        assert ran == ["first", "second"]

        outage.end()
        out = graph.invoke({"trail": []}, {"configurable": {"thread_id": "after"}})
        assert out == {"trail": ["first", "second", "third"]}
        with Store.open(db_url) as reader:
            by_thread = {r["thread_id"]: r for r in reader.runs(limit=None)}
            assert by_thread["before"]["status"] == "succeeded"
            assert by_thread["after"]["status"] == "succeeded"
            for thread in ("before", "after"):
                assert_complete(reader, by_thread[thread]["run_id"], ["first", "second", "third"])
            # the failed run is not lost: what was written before the outage is there
            down = reader.events(by_thread["down"]["run_id"])
            assert [e["seq"] for e in down] == list(range(1, len(down) + 1))
            assert ("node_end", "first") in [(e["kind"], e["node"]) for e in down]
            assert reader.verify()["ok"]
    finally:
        outage.end()
        rec.close()


# -- (c) batched: a store outage mid-run ------------------------------------------------------


@pg_only
def test_batched_outage_mid_run_loses_nothing(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="lgaudit")
    outage = Outage(db_url)
    rec = Recorder(db_url, durability="batched")
    result: list[Any] = []
    errors: list[BaseException] = []

    def run_down() -> None:
        try:
            result.append(
                graph.invoke({"trail": [], "outage": True}, {"configurable": {"thread_id": "down"}})
            )
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    worker = threading.Thread(target=run_down, daemon=True)
    try:
        graph = rec.attach(trail_graph(lambda s: s.get("outage") and outage.start()))
        graph.invoke({"trail": []}, {"configurable": {"thread_id": "before"}})

        worker.start()
        wait_until(lambda: rec.sink.failures > 0, 30, "the writer to report the outage")
        assert isinstance(rec.sink.last_error, StoreUnavailableError)
        assert str(rec.sink.last_error).startswith("store unavailable")
        assert rec.sink.pending > 0  # held, not dropped
        logged = [r for r in caplog.records if r.name == "lgaudit" and r.levelno >= logging.ERROR]
        assert logged and "store write failed" in logged[0].getMessage()
        assert not errors, errors  # the graph did not crash

        outage.end()
        worker.join(60)
        assert not worker.is_alive()
        assert not errors, errors
        assert result == [{"trail": ["first", "second", "third"], "outage": True}]
        rec.flush()
        assert rec.sink.pending == 0

        with Store.open(db_url) as reader:
            runs = reader.runs(limit=None)
            assert sorted(r["thread_id"] for r in runs) == ["before", "down"]
            assert {r["status"] for r in runs} == {"succeeded"}
            for r in runs:
                events = assert_complete(reader, r["run_id"], ["first", "second", "third"])
                assert r["event_count"] == len(events)
            # both runs recorded the same kinds of events: nothing lost, nothing twice
            kinds = [sorted(e["kind"] for e in reader.events(r["run_id"])) for r in runs]
            assert kinds[0] == kinds[1]
            assert reader.verify()["ok"]
    finally:
        outage.end()
        if worker.is_alive():
            worker.join(60)
        rec.close()


def test_batched_store_outage_does_not_block_the_graph(db_url: str) -> None:
    """The end-of-run flush is bounded (``RUN_END_FLUSH_S``): a run that ends while the
    store is down returns to its caller, its events stay queued and are written later."""
    outage = Outage(db_url)
    rec = Recorder(db_url, durability="batched")
    result: list[Any] = []
    worker: threading.Thread | None = None
    try:
        graph = rec.attach(trail_graph(lambda s: s.get("outage") and outage.start()))
        graph.invoke({"trail": []}, {"configurable": {"thread_id": "before"}})

        worker = threading.Thread(
            target=lambda: result.append(
                graph.invoke({"trail": [], "outage": True}, {"configurable": {"thread_id": "down"}})
            ),
            daemon=True,
        )
        worker.start()
        worker.join(25)  # the store stays down all along
        assert not worker.is_alive(), "graph.invoke blocked for 25 s on an unavailable store"
        assert result == [{"trail": ["first", "second", "third"], "outage": True}]
        assert rec.sink.pending > 0  # still held for when the store is back

        outage.end()
        rec.flush()
        with Store.open(db_url) as reader:
            for r in reader.runs(limit=None):
                assert_complete(reader, r["run_id"], ["first", "second", "third"])
            assert reader.verify()["ok"]
    finally:
        outage.end()
        if worker is not None:
            worker.join(60)
        rec.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_thread_read_waits_only_for_that_threads_unwritten_state(db_url: str) -> None:
    """Reading a thread's checkpoint waits for that thread's checkpoints and writes still
    queued, not for other threads': with one thread's events held by a store that takes no
    writes (SQLite's write lock held elsewhere; readers go on, as WAL lets them), another
    thread's state is read at once, and the held thread's state is read whole once the
    store takes them."""
    outage = Outage(db_url)
    rec = Recorder(db_url, durability="batched")
    workers: list[threading.Thread] = []
    try:
        graph = rec.attach(trail_graph(lambda s: s.get("outage") and outage.start()))
        graph.invoke({"trail": []}, {"configurable": {"thread_id": "before"}})
        down = threading.Thread(
            target=lambda: graph.invoke(
                {"trail": [], "outage": True}, {"configurable": {"thread_id": "down"}}
            ),
            daemon=True,
        )
        workers.append(down)
        down.start()
        wait_until(lambda: outage.active and rec.sink.pending > 0, 10, "queued events")

        states: dict[str, Any] = {}

        def read(thread: str) -> None:
            states[thread] = graph.get_state({"configurable": {"thread_id": thread}})

        for thread in ("before", "fresh"):
            reader = threading.Thread(target=read, args=(thread,), daemon=True)
            workers.append(reader)
            reader.start()
            reader.join(8)
            assert not reader.is_alive(), f"reading {thread!r} waited on thread 'down'"
        assert states["before"].values == {"trail": ["first", "second", "third"]}
        assert states["fresh"].values == {}

        held = threading.Thread(target=read, args=("down",), daemon=True)
        workers.append(held)
        held.start()
        held.join(1)
        assert held.is_alive(), "thread 'down' was read before its checkpoints were written"
        outage.end()
        held.join(30)
        assert states["down"].values == {"trail": ["first", "second", "third"], "outage": True}
    finally:
        outage.end()
        for w in workers:
            w.join(60)
        rec.close()


def test_a_full_writer_makes_the_caller_wait_and_drops_nothing(db_url: str) -> None:
    """The batched writer's buffer is bounded: while the store takes no writes and the
    buffer is full, ``submit`` waits for room (back-pressure) instead of dropping events or
    growing without bound; once the store is back every event is written, in order."""
    store = Store(db_url)
    writer = BatchedWriter(store, max_queue=4, max_batch=2)
    run = NewRun(run_id=str(uuid.uuid4()), thread_id="pressure")
    outage = Outage(db_url)

    def event(i: int) -> list[NewEvent]:
        return [NewEvent(run=run, kind="custom", payload={"i": i}, thread_id="pressure")]

    blocked = threading.Thread(target=lambda: [writer.submit(event(i)) for i in range(4, 8)])
    try:
        outage.start()
        for i in range(4):
            writer.submit(event(i))  # room for four: they are held, not written
        blocked.start()
        blocked.join(1.0)
        assert blocked.is_alive(), "submit went on with a full buffer"
        assert writer.pending == 4

        outage.end()
        blocked.join(30)
        assert not blocked.is_alive()
        writer.flush(30)
        with Store.open(db_url) as reader:
            recorded = reader.events(run.run_id)
            assert [e["payload"]["i"] for e in recorded] == list(range(8))
            assert [e["seq"] for e in recorded] == list(range(1, 9))
            assert reader.verify()["ok"]
    finally:
        outage.end()
        blocked.join(30)
        writer.close(timeout=30)
        store.close()


def test_a_lingering_writer_writes_at_once_on_flush_close_or_enough_events(db_url: str) -> None:
    """The batched writer lingers for more events before it commits a small batch, but a
    ``flush`` or ``close`` never waits for the linger, and neither do ``min_batch`` events:
    with a linger of an hour, each of them gets every event into the store, in order."""
    store = Store(db_url)
    writer = BatchedWriter(store, min_batch=4, linger=3600)
    run = NewRun(run_id=str(uuid.uuid4()), thread_id="linger")

    def event(i: int) -> list[NewEvent]:
        return [NewEvent(run=run, kind="custom", payload={"i": i}, thread_id="linger")]

    def recorded() -> list[int]:
        with Store.open(db_url) as reader:
            return [e["payload"]["i"] for e in reader.events(run.run_id)]

    try:
        for i in range(3):
            writer.submit(event(i))
        writer.flush(30)  # raises if the writer still lingers after 30 s
        assert recorded() == [0, 1, 2]

        for i in range(3, 7):
            writer.submit(event(i))  # four events: written without a flush
        deadline = time.monotonic() + 30
        while writer.pending and time.monotonic() < deadline:
            with writer._cond:
                writer._cond.wait(0.5)
        assert writer.pending == 0, "min_batch events waited for the linger"
        assert recorded() == list(range(7))

        writer.submit(event(7))
        writer.close(timeout=30)
        assert writer.pending == 0
        assert recorded() == list(range(8))
    finally:
        writer.close(timeout=30)
        store.close()


class CommitAckDropper:
    """A TCP proxy in front of PostgreSQL. Once armed, it lets one ``COMMIT`` through and
    cuts the connection before the client sees the server's answer: the transaction is
    committed, but the client only knows that its connection was lost (what a network
    blip or a failover at the wrong moment looks like)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.fired = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            state = {"commit": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := client.recv(65536):
                if self.armed.is_set() and not self.fired.is_set() and b"COMMIT" in data:
                    state["commit"] = True
                server.sendall(data)
        except OSError:
            pass

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := server.recv(65536):
                if state["commit"]:  # the server answered the COMMIT: drop the answer
                    self.fired.set()
                    self.armed.clear()
                    break
                client.sendall(data)
        except OSError:
            pass
        for sock in (client, server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pg_only
def test_lost_commit_answer_does_not_duplicate_events(db_url: str) -> None:
    url = make_url(db_url)
    proxy = CommitAckDropper((url.host or "127.0.0.1", url.port or 5432))
    rec = Recorder(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    try:
        graph = rec.attach(trail_graph(lambda s: proxy.armed.set()))
        out = graph.invoke({"trail": []}, {"configurable": {"thread_id": "blip"}})
        assert out == {"trail": ["first", "second", "third"]}
        rec.flush()
        if not proxy.fired.is_set():
            pytest.skip("the proxy saw no COMMIT to cut: the scenario did not happen")
    finally:
        rec.close()
        proxy.close()

    with Store.open(db_url) as reader:
        assert reader.verify()["ok"]
        (run,) = reader.runs()
        assert run["status"] == "succeeded"
        assert_complete(reader, run["run_id"], ["first", "second", "third"])


# -- (d) kill -9 in the middle of a run ---------------------------------------------------------

KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from typing import TypedDict
    from langgraph.graph import END, START, StateGraph
    from lgaudit import Recorder

    class S(TypedDict):
        trail: list[str]

    recorder = Recorder(sys.argv[1], durability="batched")

    def node(name):
        def fn(state):
            if name == "third":
                recorder.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return {"trail": state["trail"] + [name]}
        return fn

    builder = StateGraph(S)
    for name in ("first", "second", "third", "fourth"):
        builder.add_node(name, node(name))
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", "third")
    builder.add_edge("third", "fourth")
    builder.add_edge("fourth", END)
    graph = recorder.attach(builder.compile(name="doomed"))
    # durability="sync": LangGraph saves each step's checkpoint before the next step
    # starts, so the flush in "third" covers the checkpoint after "second"
    graph.invoke({"trail": []}, {"configurable": {"thread_id": "killed"}}, durability="sync")
    print("the process survived its own kill -9")
    """
)


def test_kill_9_mid_run_keeps_what_was_flushed(db_url: str, tmp_path: Any) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, db_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert "survived" not in proc.stdout

    with Store.open(db_url) as reader:
        result = reader.verify()
        assert result["ok"], result
        (run,) = reader.runs(limit=None)
        assert run["thread_id"] == "killed"
        assert run["status"] == "abandoned"  # its recorder's process is gone
        assert run["ended_at"] is None
        events = reader.show(run["run_id"])["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert result["events_checked"] == len(events) == run["event_count"]
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "run_start"
        assert not {"run_end", "run_error"} & set(kinds)
        done = [(e["node"], e["payload"]["output"]) for e in events if e["kind"] == "node_end"]
        assert done == [("first", {"trail": ["first"]}), ("second", {"trail": ["first", "second"]})]
        assert [e["node"] for e in events if e["kind"] == "node_start"] == [
            "first",
            "second",
            "third",
        ]
        # the state after the second node is in the recorded checkpoints
        states = [e["payload"]["values"] for e in events if e["kind"] == "checkpoint"]
        assert {"trail": ["first", "second"]} in states

    # the store takes new runs after the crash, and the chain goes on verifying
    with Recorder(db_url) as rec:
        graph = rec.attach(trail_graph())
        assert graph.invoke({"trail": []}, {"configurable": {"thread_id": "next"}}) == {
            "trail": ["first", "second", "third"]
        }
        rec.flush()
        assert rec.store.verify()["ok"]
        assert len(rec.store.runs(limit=None)) == 2
