"""The append path: one dedicated driver connection, one transaction per batch.

Appends are the hot path of every recorded graph, so they skip SQLAlchemy's statement
machinery: INSERTs are rendered once per dialect and sent on a raw DB-API connection.
SQLite: a few multi-row statements per table (sqlite3 releases the GIL once per statement,
not once per row). PostgreSQL: the whole transaction — chain lock, head check, every insert,
COMMIT — as one simple query (one round trip) with the values written as quoted constants
(psycopg's per-value binding costs more Python than the database work it feeds). Appends of
one process are serialized by a lock — the chain is linear anyway.

Batches that arrive while another thread is committing are committed together in the next
transaction (group commit), so LangGraph's concurrent ``put_writes`` and ``put`` of one step
usually share a commit; every caller still returns only once its own batch is committed.

The chain head and each run's last ``seq`` are cached between appends. Writers hold the
database's write lock (SQLite ``BEGIN IMMEDIATE``) or a transaction-scoped advisory lock
(PostgreSQL, whose script then checks under the lock that the cached head is still the head).
A batch built on a stale head — another process appended meanwhile — is refused (the check,
or the PRIMARY KEY / UNIQUE constraints on ``gseq``/``prev_hash``/``seq``), nothing commits,
the caches are dropped and the batch is re-appended on the fresh head.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import make_url

from lgaudit.errors import AppendOnlyViolation, StoreError, StoreUnavailableError
from lgaudit.log.chain import HASHED_FIELDS, canonical_json, row_values, run_digest
from lgaudit.store.records import GENESIS_HASH, NewEvent, NewRun
from lgaudit.store.schema import Blob, Event, Run

if TYPE_CHECKING:
    from lgaudit.store.serialization import Blob as BlobT

_CHAIN_LOCK = 0x1A6A0D18
_STALE = "lgaudit: stale chain head, another process appended"
_RETRIES = 12
_TRANSIENT_RETRIES = 4
_SQLITE_CHUNK = 128
_WAL_BACKSTOP_PAGES = 4000
# an event row is its hashed fields and its hash, in the table's column order
if tuple(Event.__table__.columns.keys()) != (*HASHED_FIELDS, "hash"):
    raise ImportError("lgaudit_events columns are not HASHED_FIELDS + hash, in order")


class ChainWriter:
    """Appends batches of events (with their runs, blobs and state rows) to the chain."""

    def __init__(
        self,
        url: str,
        hasher: Callable[[Sequence[Any]], str],
        digester: Callable[[Any], str],
        *,
        background_checkpoints: bool = False,
    ) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._url = parsed
        self._hash = hasher
        self._digest = digester
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._waiting: list[_Slot] = []
        self._leading = False
        self._conn: Any = None
        self._inflight: tuple[str, list[int]] | None = None
        self._head: tuple[int, str] | None = None
        self._seqs: dict[str, int] = {}
        self._sql: dict[str, tuple[str, str, str]] = {}
        # SQLite: copy the WAL back into the database from a thread of its own rather
        # than in the commit that crosses 1,000 pages (the writer process's appends)
        self._wal: _WalCheckpointer | None = None
        self._background_checkpoints = background_checkpoints and self.dialect == "sqlite"

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        conn: Any
        if self.dialect == "sqlite":
            conn = sqlite3.connect(
                self._url.database or "",
                timeout=30.0,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            if self._background_checkpoints:
                # a backstop only: should the thread fall behind a writer that never
                # pauses, the WAL is still copied back by the commit that reaches 16 MB
                conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_BACKSTOP_PAGES}")
                if self._wal is None:
                    self._wal = _WalCheckpointer(self._url.database or "")
        else:
            import psycopg

            dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
            conn.execute("SET standard_conforming_strings = on")  # what _pg_literal relies on
        self._conn = conn
        return conn

    def connect(self) -> None:
        """Open the connection now rather than at the first append."""
        with self._lock:
            self._connect()

    def close(self) -> None:
        if self._wal is not None:
            self._wal.stop()
            self._wal = None
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def _insert(self, table: Table, *, ignore: bool = False) -> tuple[str, str, str]:
        """``(INSERT … INTO t (cols), (placeholders), suffix)`` for this dialect."""
        key = f"{table.name}:{ignore}"
        if key not in self._sql:
            cols = [c.name for c in table.columns]
            mark = "?" if self.dialect == "sqlite" else "%s"
            verb = "INSERT OR IGNORE" if ignore and self.dialect == "sqlite" else "INSERT"
            suffix = " ON CONFLICT DO NOTHING" if ignore and self.dialect != "sqlite" else ""
            self._sql[key] = (
                f"{verb} INTO {table.name} ({', '.join(cols)})",
                f"({', '.join([mark] * len(cols))})",
                suffix,
            )
        return self._sql[key]

    # -- append --------------------------------------------------------------------------

    def append(
        self,
        events: Sequence[NewEvent],
        runs: dict[str, NewRun],
        blobs: dict[str, BlobT],
        new_blobs: list[str],
    ) -> list[int]:
        """Append one batch; returns when it is committed (group commit: batches that
        arrive while another thread commits are committed together in the next one)."""
        slot = _Slot(events, runs, blobs, new_blobs)
        with self._cond:
            self._waiting.append(slot)
            while not slot.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                group, self._waiting = self._waiting, []
                self._cond.release()
                try:
                    self._commit_group(group)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.gseqs

    def _commit_group(self, group: list[_Slot]) -> None:
        if len(group) > 1:
            events = [e for slot in group for e in slot.events]
            runs = {k: v for slot in group for k, v in slot.runs.items()}
            blobs = {k: v for slot in group for k, v in slot.blobs.items()}
            new_blobs = list(dict.fromkeys(h for slot in group for h in slot.new_blobs))
            try:
                gseqs = self._append_retrying(events, runs, blobs, new_blobs)
            except StoreUnavailableError as e:
                for slot in group:  # nothing to isolate: the store is down for all of them
                    slot.error, slot.done = e, True
                return
            except Exception:  # noqa: BLE001 - isolate the batch that cannot be written
                gseqs = None
            if gseqs is not None:
                for slot in group:
                    slot.gseqs, gseqs = gseqs[: len(slot.events)], gseqs[len(slot.events) :]
                    slot.done = True
                return
        for slot in group:
            try:
                slot.gseqs = self._append_retrying(
                    slot.events, slot.runs, slot.blobs, slot.new_blobs
                )
            except Exception as e:  # noqa: BLE001 - handed to the caller that submitted it
                slot.error = e
            slot.done = True

    def _append_retrying(
        self,
        events: Sequence[NewEvent],
        runs: dict[str, NewRun],
        blobs: dict[str, BlobT],
        new_blobs: list[str],
    ) -> list[int]:
        delay = 0.005
        unsure: tuple[str, list[int]] | None = None  # a COMMIT whose answer was lost
        with self._lock:
            for attempt in range(_RETRIES + 1):
                try:
                    if unsure is not None:
                        # the batch may have committed before the connection dropped:
                        # appending it again would record every event twice
                        if self._is_recorded(unsure[0]):
                            return unsure[1]
                        unsure = None
                    return self._append_once(events, runs, blobs, new_blobs)
                except Exception as e:  # noqa: BLE001 - classified below
                    if unsure is None and self._inflight is not None:
                        unsure = self._inflight
                    self._inflight = None
                    self._rollback()
                    self._head = None
                    self._seqs.clear()
                    kind = _classify(e)
                    if kind == "append-only":
                        raise AppendOnlyViolation(_first_line(e)) from e
                    transient = kind in ("lost", "busy")
                    if kind in ("fatal", "lost"):
                        self._drop_connection()  # the next attempt starts on a clean one
                    if kind == "fatal" or attempt >= (
                        _TRANSIENT_RETRIES if transient else _RETRIES
                    ):
                        if transient:
                            raise StoreUnavailableError(
                                f"store unavailable: {_first_line(e)}"
                            ) from e
                        raise StoreError(f"store error: {_first_line(e)}") from e
                    if kind != "lost":
                        unsure = None  # the server refused it: nothing was committed
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _is_recorded(self, event_hash: str) -> bool:
        cur = self._connect().cursor()
        mark = "?" if self.dialect == "sqlite" else "%s"
        cur.execute(f"SELECT 1 FROM lgaudit_events WHERE hash = {mark}", (event_hash,))
        return cur.fetchone() is not None

    def _rollback(self) -> None:
        if self._conn is None:
            return
        try:
            if self.dialect == "sqlite":
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            else:
                self._conn.execute("ROLLBACK")  # ends a failed script's open transaction
        except Exception:  # noqa: BLE001 - a broken connection is dropped and reopened
            self._drop_connection()

    def _drop_connection(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:  # noqa: BLE001
            pass
        self._conn = None

    def _append_once(
        self,
        events: Sequence[NewEvent],
        runs: dict[str, NewRun],
        blobs: dict[str, BlobT],
        new_blobs: list[str],
    ) -> list[int]:
        conn = self._connect()
        sqlite = self.dialect == "sqlite"
        cur = conn.cursor()
        if sqlite:
            cur.execute("BEGIN IMMEDIATE")
        if self._head is None:
            cur.execute("SELECT gseq, hash FROM lgaudit_events ORDER BY gseq DESC LIMIT 1")
            row = cur.fetchone()
            self._head = (row[0], row[1]) if row else (0, GENESIS_HASH)
        gseq, prev = self._head
        start = gseq
        seqs = dict(self._seqs)
        for run_id in {e.run.run_id for e in events}:
            if run_id not in seqs:
                mark = "?" if sqlite else "%s"
                cur.execute(f"SELECT MAX(seq) FROM lgaudit_events WHERE run_id = {mark}", (run_id,))
                seqs[run_id] = cur.fetchone()[0] or 0
        event_rows: list[tuple[Any, ...]] = []
        digested: set[str] = set()
        state_rows: dict[Table, list[tuple[Any, ...]]] = defaultdict(list)
        gseqs: list[int] = []
        for e in events:
            gseq += 1
            seqs[e.run.run_id] += 1
            payload = dict(e.payload)
            if e.rows:
                payload["rows_digest"] = self._digest((t.__tablename__, r) for t, r in e.rows)
            if e.run.run_id in runs and e.run.run_id not in digested:
                digested.add(e.run.run_id)  # its row is inserted with this batch
                payload["run_digest"] = run_digest(_run_row(e.run))
            hashed = (  # ``HASHED_FIELDS``, in order
                gseq,
                e.run.run_id,
                seqs[e.run.run_id],
                e.ts,
                e.kind,
                e.thread_id,
                e.node,
                e.step,
                e.task_id,
                e.checkpoint_ns,
                e.checkpoint_id,
                canonical_json(payload),
                prev,
            )
            prev = self._hash(hashed)
            event_rows.append((*hashed, prev))  # the events table's columns, in order
            gseqs.append(gseq)
            for model, values in e.rows:  # state tables: gseq is the first column
                table = model.__table__
                state_rows[table].append((gseq, *row_values(table.name, values, skip="gseq")))
        statements: list[tuple[tuple[str, str, str], list[tuple[Any, ...]]]] = []
        if runs:
            rows = [row_values("lgaudit_runs", _run_row(r)) for r in runs.values()]
            statements.append((self._insert(cast(Table, Run.__table__), ignore=True), rows))
        if new_blobs:
            rows = [(h, blobs[h][0], blobs[h][1]) for h in new_blobs]
            statements.append((self._insert(cast(Table, Blob.__table__), ignore=True), rows))
        statements.append((self._insert(cast(Table, Event.__table__)), event_rows))
        for table, rows in state_rows.items():
            statements.append((self._insert(table), rows))
        if sqlite:
            for (head, row_sql, suffix), rows in statements:
                _insert_sqlite(cur, head, row_sql, suffix, rows)
            cur.execute("COMMIT")
        else:
            # one round trip: the chain lock, a check that the cached head is still the head
            # under the lock (another process may have appended), every insert and the
            # COMMIT as one simple query
            script = [
                f"BEGIN; SELECT pg_advisory_xact_lock({_CHAIN_LOCK})",
                "DO $$BEGIN IF (SELECT max(gseq) FROM lgaudit_events) IS DISTINCT FROM "
                f"{start or 'NULL'} THEN RAISE EXCEPTION '{_STALE}'; END IF; END$$",
                *(
                    f"{head} VALUES {','.join(map(_pg_row, rows))}{suffix}"
                    for (head, _row_sql, suffix), rows in statements
                ),
                "COMMIT",
            ]
            self._inflight = (prev, gseqs)
            cur.execute(";\n".join(script))
            self._inflight = None
        self._head = (gseq, prev)
        if self._wal is not None:
            self._wal.committed()
        self._seqs.update(seqs)
        for e in events:  # a run's last event: its next sequence number is not needed
            if e.kind in _TERMINAL:
                self._seqs.pop(e.run.run_id, None)
        if len(self._seqs) > 10_000:  # runs that never ended (a process killed mid-run)
            self._seqs.clear()
        return gseqs


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
