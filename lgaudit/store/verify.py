"""``lgaudit verify``: recompute the hash chain and name the first event that breaks it.

Checks, in chain order: ``gseq`` is gapless (an event deleted from the middle), each
``prev_hash`` is the previous event's ``hash`` (reordered or removed events), each ``hash``
matches the event's recomputed canonical content (modified events), per-run ``seq`` is
gapless, the state rows an event recorded still match its ``rows_digest``, a run's row still
matches the ``run_digest`` its first event carries, no state row lies outside the chain,
every run row has events, and every blob still matches its content address.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, select

from lgaudit.store.chain import HASHED_FIELDS, event_hash, rows_digest, run_digest
from lgaudit.store.records import GENESIS_HASH, BadEvent, VerifyResult
from lgaudit.store.schema import (
    Blob,
    ChannelValue,
    CheckpointRow,
    Event,
    KillOrder,
    Run,
    ShadowProgress,
    Tombstone,
    WriteRow,
)
from lgaudit.store.serialization import blob_hash

if TYPE_CHECKING:
    from lgaudit.store.store import Store

_STATE_TABLES = (CheckpointRow, ChannelValue, WriteRow, Tombstone, KillOrder, ShadowProgress)


def verify_chain(store: Store, *, run_id: str | None = None) -> VerifyResult:
    checked = 0
    prev_gseq, prev_hash = 0, GENESIS_HASH
    last_seq: dict[str, int] = defaultdict(int)

    def bad(row: Any, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            events_checked=checked,
            first_bad=BadEvent(run_id=row.run_id, seq=row.seq, reason=reason),
        )

    for rows, conn in store.iter_chain(run_id=run_id):
        if run_id is not None:
            predecessors = _hashes_of(conn, [r.gseq - 1 for r in rows])
        digests = _state_digests(conn, rows[0].gseq, rows[-1].gseq, rows_digest)
        run_rows = _run_digests(conn, {r.run_id for r in rows if '"run_digest"' in r.payload})
        for row in rows:
            if run_id is None:
                if row.gseq != prev_gseq + 1:
                    return bad(row, f"event(s) missing before global position {row.gseq}")
                expected_prev = prev_hash
            else:
                expected_prev = predecessors.get(row.gseq - 1, GENESIS_HASH)
            if row.prev_hash != expected_prev:
                return bad(row, "prev_hash does not match the previous event: reordered or removed")
            content = {c: getattr(row, c) for c in HASHED_FIELDS}
            if event_hash(content) != row.hash:
                return bad(row, "hash mismatch: the event's content was modified")
            if row.seq != last_seq[row.run_id] + 1:
                return bad(row, f"run sequence jumps from {last_seq[row.run_id]} to {row.seq}")
            payload = json.loads(row.payload)
            if payload.get("rows_digest", "") != digests.get(row.gseq, ""):
                return bad(row, "state rows recorded by this event were modified or removed")
            if "run_digest" in payload and payload["run_digest"] != run_rows.get(row.run_id):
                return bad(row, "the run's row (thread, graph, environment, parent, replay) "
                           "was modified or removed")  # fmt: skip
            last_seq[row.run_id] = row.seq
            prev_gseq, prev_hash = row.gseq, row.hash
            checked += 1
    if run_id is None:
        orphan = _first_orphan_row(store) or _first_eventless_run(store)
        if orphan is not None:
            return VerifyResult(
                ok=False,
                events_checked=checked,
                first_bad=BadEvent(run_id=None, seq=None, reason=orphan),
            )
        broken = _first_bad_blob(store)
        if broken is not None:
            return VerifyResult(
                ok=False,
                events_checked=checked,
                first_bad=BadEvent(run_id=None, seq=None, reason=f"blob {broken} was modified"),
            )
    return VerifyResult(ok=True, events_checked=checked, first_bad=None)


def _hashes_of(conn: Any, gseqs: list[int]) -> dict[int, str]:
    q = select(Event.gseq, Event.hash).where(Event.gseq.in_(gseqs))
    return dict(conn.execute(q).all())


def _state_digests(conn: Any, lo: int, hi: int, rows_digest: Any) -> dict[int, str]:
    grouped: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for model in _STATE_TABLES:
        table = cast(Table, model.__table__)
        q = select(table).where(table.c.gseq >= lo, table.c.gseq <= hi)
        for r in conn.execute(q).mappings():
            grouped[r["gseq"]].append((table.name, dict(r)))
    return {g: rows_digest(rows) for g, rows in grouped.items()}


def _run_digests(conn: Any, run_ids: set[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    table = cast(Table, Run.__table__)
    q = select(table).where(table.c.run_id.in_(sorted(run_ids)))
    return {r["run_id"]: run_digest(dict(r)) for r in conn.execute(q).mappings()}


def _first_orphan_row(store: Store) -> str | None:
    """A state row no event recorded (outside the chain), which the digests cannot see."""
    last = select(func.coalesce(func.max(Event.gseq), 0)).scalar_subquery()
    with store._read.connect() as conn:
        for model in _STATE_TABLES:
            table = cast(Table, model.__table__)
            q = select(table.c.gseq).where((table.c.gseq < 1) | (table.c.gseq > last)).limit(1)
            gseq = conn.execute(q).scalar()
            if gseq is not None:
                return f"a row of {table.name} at global position {gseq} was recorded by no event"
    return None


def _first_eventless_run(store: Store) -> str | None:
    """A run row with no event (runs are only ever inserted with their events)."""
    runs = cast(Table, Run.__table__)
    has_events = select(Event.run_id).where(Event.run_id == runs.c.run_id).exists()
    with store._read.connect() as conn:
        run_id = conn.execute(select(runs.c.run_id).where(~has_events).limit(1)).scalar()
    return f"run {run_id} has a row but no recorded event" if run_id is not None else None


def _first_bad_blob(store: Store) -> str | None:
    with store._read.connect() as conn:
        q = select(Blob.hash, Blob.type, Blob.data).order_by(Blob.hash)
        for h, t, d in conn.execution_options(yield_per=500).execute(q):
            if blob_hash(t, bytes(d)) != h:
                return str(h)
    return None
