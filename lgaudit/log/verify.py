"""``lgaudit verify``: recompute the hash chain and name the first event that breaks it.

Checks, in chain order: ``gseq`` is gapless (an event deleted from the middle), each
``prev_hash`` is the previous event's ``hash`` (reordered or removed events), each ``hash``
matches the event's recomputed canonical content (modified events), per-run ``seq`` is
gapless, the state rows an event recorded still match its ``rows_digest``, a run's row still
matches the ``run_digest`` its first event carries, no state row lies outside the chain,
every run row has events, and every blob still matches its content address.

A large store is checked in ``gseq`` segments by worker processes (one per idle core, each
with its own connection): each segment checks its own events (``verify_segment``), and the
segments are then joined here in chain order: each segment's first event against the last
one before it, each run's first ``seq`` in a segment against the run's last before it. The
first failing check in chain order is the one reported, with the count of events checked
before it: the one a single pass gives.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from subprocess import PIPE
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import func, select

from lgaudit.errors import StoreError
from lgaudit.log.verify_segment import (
    JUMP,
    MISSING,
    REORDERED,
    STATE_TABLES,
    Segment,
    check_segment,
    first_bad_blob,
)
from lgaudit.store.engine import translate_errors
from lgaudit.store.records import GENESIS_HASH, BadEvent, VerifyResult
from lgaudit.store.tables import events, runs

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class Store(Protocol):
    """What verify reads through: the store's URL and read engine (``lgaudit.store.Store``)."""

    url: str
    _read: Engine


#: Below this many events one process checks the store (a pool costs its start-up).
PARALLEL_FROM = 200_000
#: Events per segment at most: more segments than workers even out a busy machine.
SEGMENT = 250_000


def verify_chain(store: Store, *, run_id: str | None = None) -> VerifyResult:
    if run_id is not None:
        with translate_errors(), store._read.connect() as conn:
            seg = check_segment(conn, 0, None, run_id)
        head = seg["last"][1] if seg["last"] is not None else None
        return _result(seg["count"], seg["failure"] and _bad(seg["failure"]), head)
    with translate_errors(), store._read.connect() as conn:
        last = conn.execute(select(func.max(events.c.gseq))).scalar() or 0
    workers = _workers()
    if workers >= 2 and last >= PARALLEL_FROM:
        try:
            return _verify_parallel(store, last, workers)
        except _WorkerGone:  # no worker process here (an embedded Python): one pass then
            pass
    with translate_errors(), store._read.connect() as conn:
        checked, bad, head = _join([check_segment(conn, 0, None)])
        if bad is None:
            bad = _first_unchained(conn)
        if bad is None:
            broken = first_bad_blob(conn)
            bad = _blob_bad(broken) if broken else None
    return _result(checked, bad, head)


def _verify_parallel(store: Store, last: int, workers: int) -> VerifyResult:
    n = max(workers, -(-last // SEGMENT))
    bounds = [last * k // n for k in range(n + 1)]
    tasks: list[tuple[str, Any, Any]] = [
        ("chain", bounds[k], bounds[k + 1] if k + 1 < n else None) for k in range(n)
    ]
    cuts = [None, *(f"{16 * k // workers:x}" for k in range(1, workers)), None]
    tasks += [("blobs", cuts[k], cuts[k + 1]) for k in range(workers)]
    with _Pool(store.url, workers) as pool:
        results = pool.map(tasks)
        segments = (cast(Segment, next(results)) for _ in range(n))
        checked, bad, head = _join(segments)
        if bad is not None:  # the chain is broken: what follows would not be reported
            return _result(checked, bad, head)
        with translate_errors(), store._read.connect() as conn:
            bad = _first_unchained(conn)
        broken = [r["blob"] for r in results]
    if bad is None:
        bad = next((_blob_bad(b) for b in broken if b is not None), None)
    return _result(checked, bad, head)


class _WorkerGone(Exception):
    pass


class _Pool:
    """Worker processes (``python -m lgaudit.log.verify_segment``), each its own
    connection: tasks are handed out as workers come free, results read in task order."""

    def __init__(self, url: str, workers: int) -> None:
        root = str(Path(__file__).resolve().parents[2])  # this lgaudit, whatever the path
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        cmd = [sys.executable, "-m", "lgaudit.log.verify_segment", url]
        self.procs: list[subprocess.Popen[str]] = []
        try:
            for _ in range(workers):
                self.procs.append(
                    subprocess.Popen(cmd, stdin=PIPE, stdout=PIPE, env=env, text=True, cwd=root)
                )
        except OSError as e:
            self.__exit__()
            raise _WorkerGone(str(e)) from e

    def map(self, tasks: list[tuple[str, Any, Any]]) -> Iterator[dict[str, Any]]:
        done: dict[int, dict[str, Any]] = {}
        busy: dict[Any, tuple[subprocess.Popen[str], int]] = {}
        todo = iter(enumerate(tasks))
        with selectors.DefaultSelector() as sel:

            def give(proc: subprocess.Popen[str]) -> None:
                task = next(todo, None)
                if task is not None:
                    assert proc.stdin is not None and proc.stdout is not None
                    try:
                        proc.stdin.write(json.dumps(task[1]) + "\n")
                        proc.stdin.flush()
                    except OSError as e:  # the worker is gone
                        raise _WorkerGone(str(e)) from e
                    busy[proc.stdout] = (proc, task[0])
                    sel.register(proc.stdout, selectors.EVENT_READ)

            for proc in self.procs:
                give(proc)
            for want in range(len(tasks)):
                while want not in done:
                    for key, _ in sel.select():
                        proc, index = busy.pop(key.fileobj)
                        sel.unregister(key.fileobj)
                        line = cast(Any, key.fileobj).readline()
                        if not line:
                            raise _WorkerGone("a verify worker ended without its result")
                        done[index] = json.loads(line)
                        if "error" in done[index]:
                            raise StoreError(done[index]["error"])
                        give(proc)
                yield done.pop(want)

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()  # a worker still checking what is no longer needed
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()


def _join(segments: Iterable[Segment]) -> tuple[int, BadEvent | None, str | None]:
    """The segments in chain order, joined as one pass over the chain would check them:
    the events checked, the first bad one, and the hash of the last one checked."""
    checked, prev_gseq, prev_hash = 0, 0, GENESIS_HASH
    last_seq: dict[str, int] = {}
    for seg in segments:
        if seg["first"] is not None:
            gseq, prev, run, seq = seg["first"]
            if gseq != prev_gseq + 1:
                return checked, BadEvent(run_id=run, seq=seq, reason=MISSING.format(gseq)), None
            if prev != prev_hash:
                return checked, BadEvent(run_id=run, seq=seq, reason=REORDERED), None
        for index, run, seq in seg["firsts"]:  # only those before the segment's failure
            before = last_seq.get(run, 0)
            if seq != before + 1:
                bad = BadEvent(run_id=run, seq=seq, reason=JUMP.format(before, seq))
                return checked + index, bad, None
        failure = seg["failure"]
        if failure is not None:
            return checked + failure["index"], _bad(failure), None
        last_seq.update(seg["last_seq"])
        if seg["last"] is not None:
            prev_gseq, prev_hash = seg["last"]
        checked += seg["count"]
    return checked, None, (prev_hash if checked else None)


def _bad(failure: Any) -> BadEvent:
    return BadEvent(run_id=failure["run_id"], seq=failure["seq"], reason=failure["reason"])


def _blob_bad(blob: str) -> BadEvent:
    return BadEvent(run_id=None, seq=None, reason=f"blob {blob} was modified")


def _result(checked: int, bad: BadEvent | None, head: str | None) -> VerifyResult:
    return VerifyResult(
        ok=bad is None,
        events_checked=checked,
        first_bad=bad,
        head_hash=head if bad is None else None,
    )


def _workers() -> int:
    """How many worker processes: the cores this process may use that are idle (the load
    average taken off, as ``make -l`` does), at most 8. Below 2, one pass is faster."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        idle = cores - os.getloadavg()[0]
    except OSError:  # no load average to read
        idle = cores
    return max(1, min(cores, 8, round(idle)))


def _first_unchained(conn: Any) -> BadEvent | None:
    orphan = _first_orphan_row(conn) or _first_eventless_run(conn)
    return BadEvent(run_id=None, seq=None, reason=orphan) if orphan else None


def _first_orphan_row(conn: Any) -> str | None:
    """A state row no event recorded (outside the chain), which the digests cannot see."""
    last = select(func.coalesce(func.max(events.c.gseq), 0)).scalar_subquery()
    for table in STATE_TABLES:
        q = select(table.c.gseq).where((table.c.gseq < 1) | (table.c.gseq > last)).limit(1)
        gseq = conn.execute(q).scalar()
        if gseq is not None:
            return f"a row of {table.name} at global position {gseq} was recorded by no event"
    return None


def _first_eventless_run(conn: Any) -> str | None:
    """A run row with no event (runs are only ever inserted with their events)."""
    ev = events.c
    has_events = select(ev.run_id).where(ev.run_id == runs.c.run_id).exists()
    run_id = conn.execute(select(runs.c.run_id).where(~has_events).limit(1)).scalar()
    return f"run {run_id} has a row but no recorded event" if run_id is not None else None
