"""The event store: with ``log.append``, ``checkpoints`` and ``log.verify``, the only code that
issues SQL.

Appends (``ChainWriter``) are one transaction per batch: events get the next ``gseq``,
per-run ``seq`` and ``prev_hash``, and ``gseq`` and ``prev_hash`` are unique, so the chain
stays linear under concurrent appenders: a second event claiming the same predecessor cannot
commit, and its batch is re-appended on the new head. Reads go through SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from lgaudit.errors import SchemaError
from lgaudit.log.chain import event_hash_of, rows_digest
from lgaudit.store import migrate
from lgaudit.store.blobs import Blob as BlobT
from lgaudit.store.blobs import BlobCache, children
from lgaudit.store.checkpoints import CheckpointQueries
from lgaudit.store.engine import create_engines, resolve_url, sqlite_path, translate_errors
from lgaudit.store.records import EventRecord, NewEvent, VerifyResult, iso
from lgaudit.store.run_queries import RunQueries
from lgaudit.store.tables import blobs as blob_table
from lgaudit.store.tables import events as event_table

if TYPE_CHECKING:
    from lgaudit.log.append import ChainWriter

_RUN_EVENTS = (
    select(event_table)
    .where(event_table.c.run_id == bindparam("run_id"))
    .order_by(event_table.c.seq)
)
_RUN_EVENTS_AFTER = _RUN_EVENTS.where(event_table.c.seq > bindparam("after"))
#: events read per query when a run is streamed (``iter_events``, ``show``, ``export``)
EVENT_BATCH = 1000
_THREAD_EVENTS = (
    select(event_table)
    .where(event_table.c.thread_id == bindparam("thread_id"))
    .order_by(event_table.c.gseq)
)
_THREAD_EVENTS_UPTO = _THREAD_EVENTS.where(event_table.c.gseq <= bindparam("upto"))


class Store(RunQueries, CheckpointQueries):
    """An lgaudit store on SQLite or PostgreSQL.

    ``Store.open(url)`` is the read side (refuses a database that is not an lgaudit store at
    head). ``Store(url)`` is what recorders use: it upgrades a new empty database on first
    use, and refuses one behind or ahead of head like ``open``.
    """

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = resolve_url(url)
        if not create:
            _require_existing(self.url)
        self._write, self._read = create_engines(self.url)
        self.dialect = self._write.dialect.name
        self._blob_cache = BlobCache()
        self._known_runs: set[str] = set()
        # the append path is loaded by the first append: a store opened to read never
        # imports it (nor the ORM models it is written against)
        self._writer: ChainWriter | None = None
        self._writer_lock = threading.Lock()
        try:
            if create:
                _refuse_before_writing(self.url, self._read, behind_ok=False)
                migrate.upgrade(self._write, only_if_empty=True)
            else:
                with translate_errors(), self._read.connect() as conn:
                    migrate.check(conn, allow_empty=False)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open an existing store for reading (and verifying)."""
        return cls(url, create=False)

    @staticmethod
    def upgrade(url: str | None = None) -> str:
        """Apply lgaudit's migrations up to head (``lgaudit db upgrade``); return head."""
        url = resolve_url(url)
        write, read = create_engines(url)
        try:
            _refuse_before_writing(url, read, behind_ok=True)
            return migrate.upgrade(write)
        finally:
            write.dispose()
            read.dispose()

    @staticmethod
    def revision(url: str | None = None) -> dict[str, str | None]:
        """``{"current": revision or None, "head": head}`` (``lgaudit db current``)."""
        url = resolve_url(url)
        _require_existing(url)
        write, read = create_engines(url)
        try:
            with translate_errors(), read.connect() as conn:
                return {"current": migrate.revision_of(conn), "head": migrate.head_revision()}
        finally:
            write.dispose()
            read.dispose()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._write.dispose()
        if self._read is not self._write:
            self._read.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- write side -----------------------------------------------------------------

    def append(self, events: Sequence[NewEvent]) -> list[int]:
        """Append events (and their blobs and state rows) atomically; return their gseqs."""
        if not events:
            return []
        from lgaudit.log.append import plan_append

        runs, blobs, new_blobs = plan_append(events, self._blob_cache, self._known_runs)
        gseqs = self._chain_writer().append(events, runs, blobs, new_blobs)
        for h in new_blobs:
            self._blob_cache.add(h, blobs[h])
        known = self._known_runs
        known.update(runs)
        for e in events:  # a run's last event: its row is not needed again
            if e.kind in ("run_end", "run_error"):
                known.discard(e.run.run_id)
        if len(known) > 10_000:  # runs that never ended: their row is inserted again if
            known.clear()  # they go on, which the insert ignores
        return gseqs

    def forget_known_runs(self) -> None:
        """Forget which runs' rows this store inserted (another appends for it now; a row
        inserted again is ignored)."""
        self._known_runs.clear()

    def known_runs_count(self) -> int:
        """How many runs this store remembers having inserted (a run's end forgets it)."""
        return len(self._known_runs)

    def _chain_writer(self) -> ChainWriter:
        if self._writer is not None:
            return self._writer
        with self._writer_lock:
            if self._writer is None:
                from lgaudit.log.append import ChainWriter

                self._writer = ChainWriter(self.url, event_hash_of, rows_digest)
            return self._writer

    def is_recorded(self, event: NewEvent) -> bool:
        """Whether an event handed to a writer that then vanished is in the store (by its
        run, timestamp, kind, task and checkpoint: a batch commits whole or not at all)."""
        q = (
            select(event_table.c.gseq)
            .where(event_table.c.run_id == event.run.run_id, event_table.c.ts == event.ts)
            .where(event_table.c.kind == event.kind)
            .where(event_table.c.task_id.is_not_distinct_from(event.task_id))
            .where(event_table.c.checkpoint_id.is_not_distinct_from(event.checkpoint_id))
            .limit(1)
        )
        with translate_errors(), self._read.connect() as conn:
            return conn.execute(q).first() is not None

    # -- blobs ----------------------------------------------------------------------

    def load_blobs(self, hashes: Iterable[str]) -> dict[str, BlobT]:
        """Blobs by hash, list manifests' elements included (cached: blobs never change)."""
        out: dict[str, BlobT] = {}
        todo = list(dict.fromkeys(hashes))
        while todo:
            found, missing = self._blob_cache.get_many(todo)
            if missing:
                with translate_errors(), self._read.connect() as conn:
                    for h, t, d in _select_blobs(conn, missing):
                        found[h] = (t, bytes(d))
                        self._blob_cache.add(h, (t, bytes(d)))
            out.update(found)
            todo = [c for b in found.values() for c in children(b) if c not in out]
        return out

    @property
    def blob_cache(self) -> BlobCache:
        """Blobs this process knows are committed (written or read), by hash."""
        return self._blob_cache

    def load_value(self, ref: str, serde: Any = None) -> Any:
        """Decode a stored value into objects (safe serializer unless one is given)."""
        from lgaudit.codec.serialization import ValueCodec, safe_serializer

        codec = ValueCodec(serde or safe_serializer())
        return codec.decode(ref, self.load_blobs([ref]))

    # -- runs -------------------------------------------------------------------------

    # -- events -----------------------------------------------------------------------

    def events(self, run_ref: str, *, kinds: Sequence[str] | None = None) -> list[EventRecord]:
        """A run's events in order (payloads as stored: values by blob reference)."""
        found = self._events(run_ref, kinds)
        if found:  # a full run id: no prefix to resolve
            return found
        run_id = self.resolve_run(run_ref)
        return found if run_id == run_ref else self._events(run_id, kinds)

    def has_event(self, run_id: str, kind: str) -> bool:
        """Whether a run (full id) recorded an event of this kind (one indexed lookup)."""
        q = (
            select(event_table.c.gseq)
            .where(event_table.c.run_id == run_id, event_table.c.kind == kind)
            .limit(1)
        )
        with translate_errors(), self._read.connect() as conn:
            return conn.execute(q).first() is not None

    def _events(self, run_id: str, kinds: Sequence[str] | None) -> list[EventRecord]:
        q = _RUN_EVENTS.where(event_table.c.kind.in_(list(kinds))) if kinds else _RUN_EVENTS
        return self._event_records(q, {"run_id": run_id})

    def _event_records(self, q: Any, params: dict[str, Any] | None = None) -> list[EventRecord]:
        """The events ``q`` (all the columns, in table order) selects, as records. Rows come
        from the driver in batches, past SQLAlchemy's row objects: a diff or an audit reads
        every event of its runs."""
        out: list[EventRecord] = []
        with translate_errors(), self._read.connect() as conn:
            result = conn.execute(q, params)
            try:
                while rows := result.cursor.fetchmany(2000):
                    out.extend(map(_event_of_row, rows))
            finally:
                result.close()
        return out

    def event_batches(
        self, run_ref: str, *, batch: int | None = None
    ) -> Iterator[list[EventRecord]]:
        """A run's events in order, ``batch`` (default ``EVENT_BATCH``) at a time, one query
        each, by key on ``seq``: a long run is read in constant memory, its first events
        before its last."""
        run_id = self.resolve_run(run_ref)
        batch = batch or EVENT_BATCH
        after = -1
        while True:
            page = _RUN_EVENTS_AFTER.limit(batch)
            events = self._event_records(page, {"run_id": run_id, "after": after})
            if events:
                yield events
            if len(events) < batch:
                return
            after = events[-1]["seq"]

    def show(self, run_ref: str) -> dict[str, Any]:
        """``{"run": RunRecord, "events": [...]}`` with values expanded (``lgaudit show``)."""
        run = self.run(run_ref)
        return {"run": run, "events": list(self.expanded_events(run["run_id"]))}

    def expanded_events(self, run_ref: str) -> Iterator[dict[str, Any]]:
        """A run's events with values expanded, as ``show`` has them, read and expanded a
        batch at a time (``lgaudit export`` writes each as it comes)."""
        from lgaudit.store.views import expand_batches

        return expand_batches(self, self.event_batches(run_ref))

    def thread_events(self, thread_id: str, *, upto_gseq: int | None = None) -> list[EventRecord]:
        """Every event of a thread (all its runs) in global order."""
        q = _THREAD_EVENTS if upto_gseq is None else _THREAD_EVENTS_UPTO
        params = {"thread_id": thread_id, "upto": upto_gseq}
        return self._event_records(q, params)

    def events_of_kind(
        self, kinds: Sequence[str], *, upto_gseq: int | None = None
    ) -> list[EventRecord]:
        """Every event of these kinds, of every run and thread, in global order (long-term
        memory is shared by threads: who wrote a memory key is asked store-wide)."""
        q = (
            select(event_table)
            .where(event_table.c.kind.in_(list(kinds)))
            .order_by(event_table.c.gseq)
        )
        if upto_gseq is not None:
            q = q.where(event_table.c.gseq <= upto_gseq)
        return self._event_records(q)

    def verify(self, *, run: str | None = None) -> VerifyResult:
        """Recompute the hash chain (and state-row digests); name the first bad event."""
        from lgaudit.log.verify import verify_chain

        return verify_chain(self, run_id=self.resolve_run(run) if run is not None else None)

    def schema_revision(self) -> str | None:
        with translate_errors(), self._read.connect() as conn:
            return migrate.current_revision(conn)


def _refuse_before_writing(url: str, read: Any, *, behind_ok: bool) -> None:
    """Refuse a database that is no lgaudit store at head (or, ``behind_ok``, behind it)
    through the read engine, before the write engine touches the file (it switches SQLite
    to WAL): a refused database is left as it was."""
    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        return  # a new file: nothing to refuse
    with translate_errors(), read.connect() as conn:
        rev = migrate.revision_of(conn)
        if rev is not None and not (behind_ok and rev in migrate.known_revisions()):
            migrate.check(conn, allow_empty=True)


def _require_existing(url: str) -> None:
    """Readers never create a store: a missing SQLite file is bad input, not a new file."""
    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        raise SchemaError(f"no lgaudit store at {path}: record a run or `lgaudit db upgrade`")


_EVENT_FIELDS = tuple(c.name for c in event_table.c)
_TS, _PAYLOAD = _EVENT_FIELDS.index("ts"), _EVENT_FIELDS.index("payload")
_decode_json = json.JSONDecoder().decode


def _event_of_row(row: Sequence[Any]) -> EventRecord:
    """The record of a driver row of the events table (its columns in order)."""
    e: dict[str, Any] = dict(zip(_EVENT_FIELDS, row, strict=True))
    e["ts"] = iso(row[_TS]) or ""
    e["payload"] = _decode_json(row[_PAYLOAD])
    return e  # type: ignore[return-value]


def _select_blobs(conn: Any, hashes: list[str]) -> Iterator[tuple[str, str, bytes]]:
    """The rows of these blobs, in statements the driver takes as they are: a trace asks
    for tens of thousands, whose bound parameters SQLAlchemy would otherwise render one by
    one (PostgreSQL: one array parameter; SQLite: 500 at a time)."""
    table = blob_table.name
    if conn.dialect.name == "postgresql":
        sql = f"SELECT hash, type, data FROM {table} WHERE hash = ANY(%s)"
        yield from conn.exec_driver_sql(sql, (list(hashes),))
        return
    for chunk in _chunks(hashes, 500):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT hash, type, data FROM {table} WHERE hash IN ({marks})"  # noqa: S608
        yield from conn.exec_driver_sql(sql, tuple(chunk))


def _chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
