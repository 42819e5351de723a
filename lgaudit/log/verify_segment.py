"""One segment of ``lgaudit verify``: the events of a ``gseq`` range and their state rows.

A segment checks everything it can see on its own: within it, ``gseq`` is gapless, each
``prev_hash`` is the previous event's ``hash``, each ``hash`` matches the event's content,
per-run ``seq`` is gapless, state rows match their event's ``rows_digest`` and run rows the
``run_digest``. What needs the events before the segment is left to the caller, which
checks the segments in order (``verify.verify_chain``): the first event's position and
``prev_hash``, and the ``seq`` of each run's first event in the segment. Segments can be
checked in separate processes (``check_range`` opens its own connection); memory stays
constant (events are read in batches, by key).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, TypedDict

from sqlalchemy import LargeBinary, bindparam, func, literal, select

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency of LangGraph's, not of lgaudit's
    orjson = None  # type: ignore[assignment]

from lgaudit.log.chain import DIGEST_WIDTH, HASHED_FIELDS, event_hash_of, row_line, run_digest
from lgaudit.store.blobs import blob_hash
from lgaudit.store.engine import create_engines, translate_errors
from lgaudit.store.records import GENESIS_HASH
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

STATE_TABLES = (checkpoints, channel_values, writes, tombstones, kill_orders, shadow_progress)
BATCH = 5000

#: The order of an event's checks: the first failing one is the one reported.
GAP, PREV, HASH, SEQ, ROWS, RUN = range(6)
MISSING = "event(s) missing before global position {}"
REORDERED = "prev_hash does not match the previous event: reordered or removed"
JUMP = "run sequence jumps from {} to {}"
MODIFIED = "hash mismatch: the event's content was modified"
ROWS_MODIFIED = "state rows recorded by this event were modified or removed"
RUN_MODIFIED = "the run's row (thread, graph, environment, parent, replay) was modified or removed"


class Failure(TypedDict):
    index: int  # the event's position in the segment: that many were checked before it
    check: int
    run_id: str
    seq: int
    reason: str


class Segment(TypedDict):
    count: int  # events checked
    first: tuple[int, str, str, int] | None  # gseq, prev_hash, run_id, seq: for the caller
    last: tuple[int, str] | None  # gseq, hash
    firsts: list[tuple[int, str, int]]  # index, run_id, seq of each run's first event here
    last_seq: dict[str, int]
    failure: Failure | None


def check_segment(conn: Any, lo: int, hi: int | None, run_id: str | None = None) -> Segment:
    """Check the events with ``lo < gseq <= hi`` (``hi`` ``None``: to the end), of one run
    if ``run_id`` is given (then every check is made here: ``prev_hash`` against the
    stored predecessor, ``seq`` from 1); stops at the first failing check."""
    seg = Segment(count=0, first=None, last=None, firsts=[], last_seq={}, failure=None)
    last_seq, firsts = seg["last_seq"], seg["firsts"]
    count, prev_gseq, prev_hash = 0, 0, GENESIS_HASH
    predecessors: dict[int, str] | None = None

    def fail(check: int, run: str, seq: int, reason: str) -> Segment:
        seg["count"] = count
        seg["failure"] = Failure(index=count, check=check, run_id=run, seq=seq, reason=reason)
        return seg

    for rows in _chain(conn, lo, hi, run_id):
        if run_id is not None:
            predecessors = _hashes_of(conn, [r[0] - 1 for r in rows])
        elif seg["first"] is None:  # its position and link are checked by the caller
            seg["first"] = (rows[0][0], rows[0][12], rows[0][1], rows[0][2])
            prev_gseq, prev_hash = rows[0][0] - 1, rows[0][12]
        digests = _state_digests(conn, rows[0][0], rows[-1][0])
        run_rows = _run_digests(conn, {r[1] for r in rows if '"run_digest"' in r[11]})
        for row in rows:
            gseq, run, seq, payload = row[0], row[1], row[2], row[11]
            if predecessors is not None:
                if row[12] != predecessors.get(gseq - 1, GENESIS_HASH):
                    return fail(PREV, run, seq, REORDERED)
            else:
                if gseq != prev_gseq + 1:
                    return fail(GAP, run, seq, MISSING.format(gseq))
                if row[12] != prev_hash:
                    return fail(PREV, run, seq, REORDERED)
            if _hash_of(row) != row[13] and event_hash_of(row[:13]) != row[13]:
                return fail(HASH, run, seq, MODIFIED)
            before = last_seq.get(run)
            if before is None and predecessors is None:
                firsts.append((count, run, seq))  # the caller knows the run's past
            elif seq != (before or 0) + 1:
                return fail(SEQ, run, seq, JUMP.format(before or 0, seq))
            digest = digests.get(gseq, "")
            if digest or '"rows_digest"' in payload or '"run_digest"' in payload:
                # only events that recorded rows (or name a digest) need their payload read
                data = _json_of(payload)
                if data.get("rows_digest", "") != digest:
                    return fail(ROWS, run, seq, ROWS_MODIFIED)
                if "run_digest" in data and data["run_digest"] != run_rows.get(run):
                    return fail(RUN, run, seq, RUN_MODIFIED)
            last_seq[run] = seq
            prev_gseq, prev_hash = gseq, row[13]
            count += 1
        seg["last"] = (prev_gseq, prev_hash)
    seg["count"] = count
    return seg


def _hash_of(row: tuple[Any, ...]) -> str | None:
    """``chain.event_hash_of`` through orjson (the same canonical JSON: sorted keys, no
    spaces, strings escaped alike, here spelled in key order), twice as fast. Equal to the
    stored hash only for the very text the recorder hashed; anything else (no orjson, a
    value orjson spells otherwise or refuses) is decided by ``event_hash_of``."""
    if orjson is None:
        return None
    g, run, seq, ts, kind, thread, node, step, task, ns, cid, payload, prev = row[:13]
    body = {"checkpoint_id": cid, "checkpoint_ns": ns, "gseq": g, "kind": kind, "node": node,
            "payload": payload, "prev_hash": prev, "run_id": run, "seq": seq, "step": step,
            "task_id": task, "thread_id": thread, "ts": ts}  # fmt: skip
    try:
        return hashlib.sha256(orjson.dumps(body)).hexdigest()
    except (TypeError, ValueError):
        return None


def _json_of(text: str) -> Any:
    """``json.loads(text)``: orjson reads the same document (of which verify looks only at
    two top-level strings); what it refuses goes to ``json.loads``, which decides."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except ValueError:
            pass
    return json.loads(text)


def _chain(
    conn: Any, lo: int, hi: int | None, run_id: str | None
) -> Iterator[list[tuple[Any, ...]]]:
    """The stored events in chain order, in batches of plain tuples: ``HASHED_FIELDS`` then
    ``hash`` (read past SQLAlchemy's rows: every event of the store passes here)."""
    table = events
    columns = [table.c[c] for c in (*HASHED_FIELDS, "hash")]
    base = select(*columns).order_by(table.c.gseq).limit(BATCH)
    if hi is not None:
        base = base.where(table.c.gseq <= hi)
    if run_id is not None:
        base = base.where(table.c.run_id == run_id)
    last = lo
    while True:
        result = conn.execute(base.where(table.c.gseq > last))
        rows = result.cursor.fetchall()  # the driver's tuples: ints, strings and None
        result.close()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _hashes_of(conn: Any, gseqs: list[int]) -> dict[int, str]:
    q = select(events.c.gseq, events.c.hash).where(events.c.gseq.in_(gseqs))
    return dict(conn.execute(q).all())


def _state_queries() -> list[tuple[str, Any]]:
    out = []
    for table in STATE_TABLES:
        # gseq, then the other columns in table order: a row's line is its tail as is
        cols = [c for c in table.c if c.name != "gseq"]
        q = select(table.c.gseq, *cols).where(
            table.c.gseq >= bindparam("lo"), table.c.gseq <= bindparam("hi")
        )
        out.append((table.name, q))
    return out


_STATE = _state_queries()


def _state_digests(conn: Any, lo: int, hi: int) -> dict[int, str]:
    """``rows_digest`` of the state rows of each event in ``lo..hi`` that recorded any:
    ``chain.rows_digest`` of the same rows (``table + repr(values but gseq)``, sorted)."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for name, q in _STATE:
        result = conn.execute(q, {"lo": lo, "hi": hi})
        if name in DIGEST_WIDTH:  # columns added later: ``chain.row_line`` decides
            for r in result.cursor.fetchall():
                grouped[r[0]].append(row_line(name, tuple(r[1:])))
        else:
            for r in result.cursor.fetchall():
                grouped[r[0]].append(name + repr(r[1:]))
        result.close()
    sha = hashlib.sha256
    return {g: sha("\n".join(sorted(lines)).encode()).hexdigest() for g, lines in grouped.items()}


def _run_digests(conn: Any, run_ids: set[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    table = runs
    q = select(table).where(table.c.run_id.in_(sorted(run_ids)))
    return {r["run_id"]: run_digest(dict(r)) for r in conn.execute(q).mappings()}


def first_bad_blob(conn: Any, lo: str | None = None, hi: str | None = None) -> str | None:
    """The first blob (by hash, within ``lo <= hash < hi``) whose content no longer has
    its address. PostgreSQL hashes the blobs where they are (the same bytes as
    ``blob_hash``: the type in UTF-8, a zero byte, the data) and sends only those whose
    hash differs, each checked again here."""
    q = select(blobs.c.hash, blobs.c.type, blobs.c.data).order_by(blobs.c.hash)
    if lo is not None:
        q = q.where(blobs.c.hash >= lo)
    if hi is not None:
        q = q.where(blobs.c.hash < hi)
    if conn.dialect.name == "postgresql":
        content = (
            func.convert_to(blobs.c.type, "UTF8")
            .op("||")(literal(b"\0", LargeBinary))
            .op("||")(blobs.c.data)
        )
        q = q.where(func.encode(func.sha256(content), "hex") != blobs.c.hash)
    for h, t, d in conn.execution_options(yield_per=500).execute(q):
        if blob_hash(t, bytes(d)) != h:
            return str(h)
    return None


def serve(url: str) -> None:
    """A worker of a parallel verify (``python -m lgaudit.log.verify_segment URL``): one
    task a line on stdin, ``["chain", lo, hi]`` or ``["blobs", lo, hi]``, its result a line
    of JSON on stdout (``{"error": ...}`` if it could not be checked)."""
    engine = create_engines(url)[1]
    try:
        for line in sys.stdin:
            kind, lo, hi = json.loads(line)
            try:
                with translate_errors(), engine.connect() as conn:
                    if kind == "chain":
                        out: Any = check_segment(conn, lo, hi)
                    else:
                        out = {"blob": first_bad_blob(conn, lo, hi)}
            except Exception as e:  # the caller raises it: one line, as in one process
                out = {"error": str(e) or type(e).__name__}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
    finally:
        engine.dispose()


if __name__ == "__main__":
    serve(sys.argv[1])
