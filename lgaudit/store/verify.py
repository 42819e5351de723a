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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from lgaudit.store.blobs import blob_hash
from lgaudit.store.chain import (
    HASHED_FIELDS,
    event_hash_of,
    lines_digest,
    row_line,
    run_digest,
)
from lgaudit.store.engine import translate_errors
from lgaudit.store.records import GENESIS_HASH, BadEvent, VerifyResult
from lgaudit.store.tables import (
    blobs,
    channel_values,
    checkpoints,
    events,
    kill_orders,
    runs,
    shadow_progress,
    tombstones,
    writes,
)

if TYPE_CHECKING:
    from lgaudit.store.store import Store

_STATE_TABLES = (checkpoints, channel_values, writes, tombstones, kill_orders, shadow_progress)


def verify_chain(store: Store, *, run_id: str | None = None) -> VerifyResult:
    checked = 0
    prev_gseq, prev_hash = 0, GENESIS_HASH
    last_seq: dict[str, int] = defaultdict(int)

    def bad(run: str, seq: int, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            events_checked=checked,
            first_bad=BadEvent(run_id=run, seq=seq, reason=reason),
        )

    with translate_errors(), store._read.connect() as conn:
        for rows in _chain(conn, run_id):
            if run_id is not None:
                predecessors = _hashes_of(conn, [r[0] - 1 for r in rows])
            digests = _state_digests(conn, rows[0][0], rows[-1][0])
            run_rows = _run_digests(conn, {r[1] for r in rows if '"run_digest"' in r[11]})
            for row in rows:
                gseq, run, seq, payload = row[0], row[1], row[2], row[11]
                if run_id is None:
                    if gseq != prev_gseq + 1:
                        return bad(run, seq, f"event(s) missing before global position {gseq}")
                    expected_prev = prev_hash
                else:
                    expected_prev = predecessors.get(gseq - 1, GENESIS_HASH)
                if row[12] != expected_prev:
                    return bad(run, seq, "prev_hash does not match the previous event: "
                               "reordered or removed")  # fmt: skip
                if event_hash_of(row[:13]) != row[13]:
                    return bad(run, seq, "hash mismatch: the event's content was modified")
                if seq != last_seq[run] + 1:
                    return bad(run, seq, f"run sequence jumps from {last_seq[run]} to {seq}")
                digest = digests.get(gseq, "")
                if digest or '"rows_digest"' in payload or '"run_digest"' in payload:
                    # only events that recorded rows (or name a digest) need their payload read
                    data = json.loads(payload)
                    if data.get("rows_digest", "") != digest:
                        return bad(
                            run, seq, "state rows recorded by this event were modified or removed"
                        )
                    if "run_digest" in data and data["run_digest"] != run_rows.get(run):
                        return bad(run, seq, "the run's row (thread, graph, environment, parent, "
                                   "replay) was modified or removed")  # fmt: skip
                last_seq[run] = seq
                prev_gseq, prev_hash = gseq, row[13]
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


def _chain(conn: Any, run_id: str | None, batch: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """The stored events in chain order, in batches of plain tuples: ``HASHED_FIELDS`` then
    ``hash`` (read past SQLAlchemy's rows: every event of the store passes here)."""
    table = events
    columns = [table.c[c] for c in (*HASHED_FIELDS, "hash")]
    last = 0
    while True:
        q = select(*columns).where(table.c.gseq > last).order_by(table.c.gseq).limit(batch)
        if run_id is not None:
            q = q.where(table.c.run_id == run_id)
        result = conn.execute(q)
        rows = result.cursor.fetchall()  # the driver's tuples: ints, strings and None
        result.close()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _hashes_of(conn: Any, gseqs: list[int]) -> dict[int, str]:
    q = select(events.c.gseq, events.c.hash).where(events.c.gseq.in_(gseqs))
    return dict(conn.execute(q).all())


def _state_digests(conn: Any, lo: int, hi: int) -> dict[int, str]:
    """``rows_digest`` of the state rows of each event in ``lo..hi`` that recorded any."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for table in _STATE_TABLES:
        # the columns but gseq in table order, then gseq: a row's line is its head as is
        cols = [c for c in table.c if c.name != "gseq"]
        q = select(*cols, table.c.gseq).where(table.c.gseq >= lo, table.c.gseq <= hi)
        name, n = table.name, len(cols)
        result = conn.execute(q)
        for r in result.cursor.fetchall():
            grouped[r[n]].append(row_line(name, r[:n]))
        result.close()
    return {g: lines_digest(lines) for g, lines in grouped.items()}


def _run_digests(conn: Any, run_ids: set[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    q = select(runs).where(runs.c.run_id.in_(sorted(run_ids)))
    return {r["run_id"]: run_digest(dict(r)) for r in conn.execute(q).mappings()}


def _first_orphan_row(store: Store) -> str | None:
    """A state row no event recorded (outside the chain), which the digests cannot see."""
    last = select(func.coalesce(func.max(events.c.gseq), 0)).scalar_subquery()
    with store._read.connect() as conn:
        for table in _STATE_TABLES:
            q = select(table.c.gseq).where((table.c.gseq < 1) | (table.c.gseq > last)).limit(1)
            gseq = conn.execute(q).scalar()
            if gseq is not None:
                return f"a row of {table.name} at global position {gseq} was recorded by no event"
    return None


def _first_eventless_run(store: Store) -> str | None:
    """A run row with no event (runs are only ever inserted with their events)."""
    has_events = select(events.c.run_id).where(events.c.run_id == runs.c.run_id).exists()
    with store._read.connect() as conn:
        run_id = conn.execute(select(runs.c.run_id).where(~has_events).limit(1)).scalar()
    return f"run {run_id} has a row but no recorded event" if run_id is not None else None


def _first_bad_blob(store: Store) -> str | None:
    with store._read.connect() as conn:
        q = select(blobs.c.hash, blobs.c.type, blobs.c.data).order_by(blobs.c.hash)
        for h, t, d in conn.execution_options(yield_per=500).execute(q):
            if blob_hash(t, bytes(d)) != h:
                return str(h)
    return None
