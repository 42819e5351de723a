"""The append path's parts: batches planned, rows rendered, commit slots, WAL checkpoints."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

from lgaudit.log.chain import canonical_json
from lgaudit.store.records import NewEvent, NewRun

if TYPE_CHECKING:
    from lgaudit.codec.serialization import Blob as BlobT


_STALE = "lgaudit: stale chain head, another process appended"
_SQLITE_CHUNK = 128

#: The kinds of a run's last event (a later one, never expected, is still numbered right:
#: the sequence is then read back from the store).
_TERMINAL = frozenset({"run_end", "run_error"})


def plan_append(
    events: Sequence[NewEvent], known_blobs: Container[str], known_runs: Container[str]
) -> tuple[dict[str, NewRun], dict[str, BlobT], list[str]]:
    """What appending ``events`` inserts besides them: ``(runs, blobs, new_blobs)`` —
    their runs not known to be stored, the blobs they carry, and of those the hashes not
    known to be stored."""
    blobs: dict[str, BlobT] = {}
    for e in events:
        blobs.update(e.blobs)
    new_blobs = [h for h in blobs if h not in known_blobs]
    runs = {e.run.run_id: e.run for e in events if e.run.run_id not in known_runs}
    return runs, blobs, new_blobs


def _insert_sqlite(cur: Any, head: str, row_sql: str, suffix: str, rows: list[Any]) -> None:
    """Insert rows with few multi-row statements rather than ``executemany``: sqlite3
    releases the GIL once per statement, so the graph's thread keeps running while SQLite
    works, instead of handing the GIL back and forth once per row. Chunk sizes are powers
    of two (at most ``_SQLITE_CHUNK``), so the statement cache sees a few shapes."""
    i, n = 0, len(rows)
    while i < n:
        size = _SQLITE_CHUNK
        while size > n - i:
            size //= 2
        chunk = rows[i : i + size]
        cur.execute(
            f"{head} VALUES {','.join([row_sql] * size)}{suffix}",
            [v for row in chunk for v in row],
        )
        i += size


def _pg_literal(value: Any) -> str:
    """A PostgreSQL constant for a value the writer stores (str, int, bytes, None).

    With ``standard_conforming_strings`` on (set on the writer's connection), a quote is
    the only character a string constant escapes; PostgreSQL text cannot hold NUL, which
    the server refuses as it would a bound value."""
    kind = type(value)
    if kind is str:
        return "'" + value.replace("'", "''") + "'"
    if kind is int or kind is bool:
        return str(int(value))
    if value is None:
        return "NULL"
    if kind is bytes:
        return "'\\x" + value.hex() + "'::bytea"
    raise TypeError(f"cannot store a {kind.__name__} in an event row")


def _pg_row(row: tuple[Any, ...]) -> str:
    return "(" + ",".join(map(_pg_literal, row)) + ")"


class _WalCheckpointer:
    """Copies an SQLite WAL back into the database from a thread with its own connection
    (``PASSIVE``: never blocks the writer), at most every ``interval`` seconds while
    commits come. The writer's own connection then does not checkpoint inside a commit (its
    ``wal_autocheckpoint`` is raised to a backstop), which otherwise makes one append in
    every thousand pages wait for the copy."""

    def __init__(self, path: str, interval: float = 0.1) -> None:
        self._path = path
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lgaudit-wal", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """The writer committed (called by the writer's thread)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        last = float("-inf")
        try:
            while True:
                self._wake.wait()
                delay = last + self._interval - time.monotonic()
                if self._stop.is_set() or (delay > 0 and self._stop.wait(delay)):
                    return
                self._wake.clear()
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._path, timeout=30.0, isolation_level=None)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:  # the next commit asks again
                    pass
                last = time.monotonic()
        finally:
            if conn is not None:
                conn.close()


class _Slot:
    """One caller's batch waiting for a group commit."""

    __slots__ = ("events", "runs", "blobs", "new_blobs", "gseqs", "error", "done")

    def __init__(
        self,
        events: Sequence[NewEvent],
        runs: dict[str, NewRun],
        blobs: dict[str, BlobT],
        new_blobs: list[str],
    ) -> None:
        self.events = events
        self.runs = runs
        self.blobs = blobs
        self.new_blobs = new_blobs
        self.gseqs: list[int] = []
        self.error: BaseException | None = None
        self.done = False


def _run_row(r: NewRun) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "thread_id": r.thread_id,
        "parent_run_id": r.parent_run_id,
        "graph": r.graph,
        "environment": r.environment,
        "started_at": r.started_at,
        "replay": canonical_json(r.replay) if r.replay is not None else None,
    }


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _classify(e: BaseException) -> str:
    """``conflict`` (stale head: retry), ``busy`` (locked: retry), ``lost`` (reconnect and
    retry), ``append-only`` (a trigger refused), or ``fatal``."""
    text = str(e)
    if _STALE in text:
        return "conflict"  # PostgreSQL: another process appended since the head was cached
    if "collides with a recorded row" in text:
        return "conflict"  # SQLite's no-replace trigger: another writer took this position
    if "append-only" in text:
        return "append-only"
    if isinstance(e, sqlite3.IntegrityError) or "duplicate key" in text or "UNIQUE" in text:
        return "conflict"
    if isinstance(e, sqlite3.OperationalError):
        return "busy" if "locked" in text or "busy" in text else "fatal"
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return "fatal"
    if isinstance(
        e,
        psycopg.errors.UniqueViolation
        | psycopg.errors.SerializationFailure
        | psycopg.errors.DeadlockDetected,
    ):
        return "conflict"
    if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError):
        return "lost"
    return "fatal"
