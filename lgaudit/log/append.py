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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import make_url

from lgaudit.errors import AppendOnlyViolation, StoreError, StoreUnavailableError
from lgaudit.log.append_parts import (  # noqa: F401  (moved: lgaudit.log.append_parts)
    _STALE,
    _TERMINAL,
    _classify,
    _first_line,
    _insert_sqlite,
    _pg_literal,
    _pg_row,
    _run_row,
    _Slot,
    _WalCheckpointer,
    plan_append,
)
from lgaudit.log.chain import HASHED_FIELDS, canonical_json, row_values, run_digest
from lgaudit.store.records import GENESIS_HASH, NewEvent, NewRun
from lgaudit.store.schema import Blob, Event, Run

if TYPE_CHECKING:
    from lgaudit.codec.serialization import Blob as BlobT


_CHAIN_LOCK = 0x1A6A0D18
_RETRIES = 12
_TRANSIENT_RETRIES = 4
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
