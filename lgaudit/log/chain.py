"""The hash chain's canonical forms: canonical JSON, an event's hash, a state-rows digest.

Kept free of LangGraph and LangChain imports: the writer process (``writer_process``) computes
the chain with these, as the in-process writer and ``verify`` do.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lgaudit.store.tables import metadata

_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode

#: The fields of an event its hash covers, ``prev_hash`` included.
HASHED_FIELDS = (
    "gseq",
    "run_id",
    "seq",
    "ts",
    "kind",
    "thread_id",
    "node",
    "step",
    "task_id",
    "checkpoint_ns",
    "checkpoint_id",
    "payload",
    "prev_hash",
)


def canonical_json(obj: Any) -> str:
    """The one JSON text of ``obj`` that hashing uses: sorted keys, no spaces."""
    return _CANONICAL(obj)


def event_hash(row: dict[str, Any]) -> str:
    """SHA-256 over an event's canonical content, ``prev_hash`` included."""
    body = {k: row[k] for k in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


_J = json.encoder.encode_basestring  # what the encoder uses with ensure_ascii=False


def event_hash_of(values: Sequence[Any]) -> str:
    """``event_hash`` of an event given as its ``HASHED_FIELDS`` values in that order: the
    same canonical JSON, spelled out for the column types (str, int, None) instead of a dict
    through the general encoder (verify hashes every stored event)."""
    gseq, run_id, seq, ts, kind, thread_id, node, step, task_id, ns, cid, payload, prev = values
    if not (type(gseq) is type(seq) is type(ts) is int and (step is None or type(step) is int)):
        return event_hash(dict(zip(HASHED_FIELDS, values, strict=True)))
    try:  # the nullable columns: thread_id, node, step, task_id, checkpoint_ns/_id
        text = (
            f'{{"checkpoint_id":{"null" if cid is None else _J(cid)},'
            f'"checkpoint_ns":{"null" if ns is None else _J(ns)},"gseq":{gseq},'
            f'"kind":{_J(kind)},"node":{"null" if node is None else _J(node)},'
            f'"payload":{_J(payload)},"prev_hash":{_J(prev)},"run_id":{_J(run_id)},'
            f'"seq":{seq},"step":{"null" if step is None else step},'
            f'"task_id":{"null" if task_id is None else _J(task_id)},'
            f'"thread_id":{"null" if thread_id is None else _J(thread_id)},"ts":{ts}}}'
        )
    except TypeError:  # a text column holding another type: the general encoder decides
        return event_hash(dict(zip(HASHED_FIELDS, values, strict=True)))
    return hashlib.sha256(text.encode()).hexdigest()


def row_line(table: str, values: tuple[Any, ...]) -> str:
    """One state row in a ``rows_digest``: its table and its values but ``gseq``, in column
    order (a table's columns added by a later migration left out while all NULL: a row
    recorded before them keeps its digest)."""
    width = DIGEST_WIDTH.get(table)
    if width is not None and all(v is None for v in values[width:]):
        values = values[:width]
    return table + repr(values)


def lines_digest(lines: Iterable[str]) -> str:
    """The ``rows_digest`` of an event's state rows given as their ``row_line``s."""
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def rows_digest(rows: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """Digest of an event's state rows (column order, ``gseq`` left out), so verify also
    catches edits of the state tables."""
    return lines_digest(row_line(name, row_values(name, r, skip="gseq")) for name, r in rows)


def run_digest(row: Any) -> str:
    """Digest of a run's row (every column), carried by the run's first event in the
    batch that inserted it, so verify also catches edits of ``lgaudit_runs``."""
    return hashlib.sha256(repr(row_values("lgaudit_runs", row)).encode()).hexdigest()


#: Tables that gained columns after rows were recorded in them: how many columns (but
#: ``gseq``) their first rows were digested with (``Table.info["digest_width"]``).
DIGEST_WIDTH: dict[str, int] = {
    t.name: t.info["digest_width"] for t in metadata.tables.values() if "digest_width" in t.info
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    t.name: tuple(c.name for c in t.columns) for t in metadata.tables.values()
}
_GETTERS: dict[tuple[str, str | None], Callable[[Any], tuple[Any, ...]]] = {}


def row_values(table: str, row: Any, *, skip: str | None = None) -> tuple[Any, ...]:
    """A row's values in the table's column order (``skip`` one column; a missing column
    is ``None``)."""
    getter = _GETTERS.get((table, skip))
    if getter is None:
        cols = [c for c in _COLUMNS[table] if c != skip]
        pick = operator.itemgetter(*cols)
        getter = pick if len(cols) > 1 else (lambda r: (pick(r),))
        _GETTERS[(table, skip)] = getter
    try:
        return getter(row)
    except KeyError:
        return tuple([row.get(c) for c in _COLUMNS[table] if c != skip])
