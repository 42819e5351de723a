"""Stage results: record one (``lgaudit stage``, a shadow's verdict change), list them
(``lgaudit stages``), read one by id or unique prefix."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from lgaudit.errors import AmbiguousStageError, BadInputError, UnknownStageError
from lgaudit.log.chain import canonical_json
from lgaudit.review.record import append_row, new_id
from lgaudit.store import Store
from lgaudit.store.engine import translate_errors
from lgaudit.store.records import iso, now_us
from lgaudit.store.tables import signoffs as signoff_table
from lgaudit.store.tables import stage_results as result_table

KINDS = ("stage", "shadow")
VERDICTS = ("promote", "block")
#: The shortest stage prefix accepted (as for runs).
MIN_PREFIX = 6

#: The first keys of a document read back, in the order ``lgaudit stage --json`` prints them.
_DOCUMENT_ORDER = (
    "stage_id",
    "suite",
    "graph",
    "verdict",
    "checks",
    "cases",
    "coverage",
    "require",
)

_SUMMARY_COLUMNS = (
    result_table.c.gseq,
    result_table.c.stage_id,
    result_table.c.ts,
    result_table.c.suite,
    result_table.c.graph,
    result_table.c.verdict,
    result_table.c.kind,
    result_table.c.case_run_ids,
)


def record_stage_result(store: Store, document: dict[str, Any], *, kind: str = "stage") -> str:
    """Record a stage's ``--json`` document (``lgaudit stage``'s, or ``lgaudit shadow``'s
    when its rolling verdict changes: ``kind="shadow"``) as an append-only row in the hash
    chain; return its new ``stage_id``. The document stored carries ``stage_id`` too."""
    if kind not in KINDS:
        raise BadInputError(f"stage result kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for key in ("suite", "graph", "verdict"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise BadInputError(f"a stage document needs {key!r}")
    if document["verdict"] not in VERDICTS:
        raise BadInputError(f"verdict must be one of {', '.join(VERDICTS)}")
    stage_id = new_id()
    doc = {"stage_id": stage_id, **{k: v for k, v in document.items() if k != "stage_id"}}
    run_ids = _case_run_ids(doc)
    row = {
        "stage_id": stage_id,
        "ts": now_us(),
        "suite": doc["suite"],
        "graph": doc["graph"],
        "verdict": doc["verdict"],
        "kind": kind,
        "case_run_ids": canonical_json(run_ids),
        "document": canonical_json(doc),
    }
    from lgaudit.store.schema import StageResultRow  # the writer's row model (and the ORM)

    summary = {k: row[k] for k in ("stage_id", "suite", "graph", "verdict", "kind")}
    summary["cases"] = len(run_ids)
    append_row(store, "lgaudit:stage_result", summary, StageResultRow, row)
    return stage_id


def _case_run_ids(doc: dict[str, Any]) -> list[str]:
    """The runs behind a result: each case's run (a stage's ``cases``, a shadow's
    ``runs``), in order, once each."""
    found: list[str] = []
    for key in ("cases", "runs"):
        for item in doc.get(key) or ():
            run_id = item.get("run_id") if isinstance(item, dict) else None
            if isinstance(run_id, str):
                found.append(run_id)
    return list(dict.fromkeys(found))


def list_stages(
    store: Store,
    *,
    suite: str | None = None,
    graph: str | None = None,
    kind: str | None = None,
    limit: int | None = 50,
) -> list[dict[str, Any]]:
    """Stage results, newest first, as summaries: ``stage_id``, ``ts``, ``suite``,
    ``graph``, ``verdict``, ``kind``, ``cases`` (how many case runs) and ``signoff`` (the
    latest sign-off, as ``list_signoffs`` gives it, or ``None``)."""
    if limit is not None and limit < 1:
        raise BadInputError(f"--limit must be at least 1, not {limit}")
    q = select(*_SUMMARY_COLUMNS).order_by(result_table.c.gseq.desc())
    if suite is not None:
        q = q.where(result_table.c.suite == suite)
    if graph is not None:
        q = q.where(result_table.c.graph == graph)
    if kind is not None:
        q = q.where(result_table.c.kind == kind)
    if limit is not None:
        q = q.limit(limit)
    with translate_errors(), store._read.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
        signed = _signoffs_of(conn, [r["stage_id"] for r in rows])
    return [_summary(r, signed.get(r["stage_id"], [])) for r in rows]


def get_stage(store: Store, ref: str) -> dict[str, Any]:
    """One stage result by id or unique prefix (at least 6 characters): its summary (as
    ``list_stages`` gives it) with ``case_run_ids``, ``signoffs`` (oldest first: each a
    ``list_signoffs`` item) and ``document`` (the ``--json`` document, ``stage_id``
    first). An unknown or ambiguous reference raises ``UnknownStageError``."""
    stage_id = resolve_stage(store, ref)
    q = select(*_SUMMARY_COLUMNS, result_table.c.document).where(
        result_table.c.stage_id == stage_id
    )
    with translate_errors(), store._read.connect() as conn:
        row = dict(conn.execute(q).mappings().one())
        signed = _signoffs_of(conn, [stage_id]).get(stage_id, [])
    out = _summary(row, signed)
    out["case_run_ids"] = json.loads(row["case_run_ids"])
    out["signoffs"] = signed
    doc = json.loads(row["document"])  # stored with sorted keys: the CLI's order again
    doc.setdefault("stage_id", stage_id)
    head = [k for k in _DOCUMENT_ORDER if k in doc]
    out["document"] = {k: doc[k] for k in [*head, *(k for k in doc if k not in head)]}
    return out


def resolve_stage(store: Store, ref: str) -> str:
    """The full stage id for an id or unique prefix of at least 6 characters."""
    ref = (ref or "").strip()
    if not ref:
        raise UnknownStageError(ref, "empty stage reference: `lgaudit stages` lists them")
    c = result_table.c
    with translate_errors(), store._read.connect() as conn:
        if conn.execute(select(c.stage_id).where(c.stage_id == ref)).first():
            return ref
        if len(ref) < MIN_PREFIX:
            raise UnknownStageError(
                ref,
                f"a stage prefix needs at least {MIN_PREFIX} characters: {ref!r} has "
                f"{len(ref)} (`lgaudit stages` lists the stage results)",
            )
        if not all(ch in "0123456789abcdef" for ch in ref):
            raise UnknownStageError(ref)
        q = select(c.stage_id).where(c.stage_id.like(ref + "%")).limit(6)
        matches = [r[0] for r in conn.execute(q)]
    if not matches:
        raise UnknownStageError(ref)
    if len(matches) > 1:
        raise AmbiguousStageError(ref, matches)
    return str(matches[0])


def signoff_of_row(row: Any) -> dict[str, Any]:
    """A sign-off as ``lgaudit signoffs --json`` prints it."""
    return {
        "signoff_id": row["signoff_id"],
        "stage_id": row["stage_id"],
        "ts": iso(row["ts"]),
        "by": row["signed_by"],
        "decision": row["decision"],
        "note": row["note"],
        "override": row["override"],
    }


def _signoffs_of(conn: Any, stage_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each stage's sign-offs, oldest first."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not stage_ids:
        return out
    s = signoff_table
    for chunk in range(0, len(stage_ids), 500):
        ids = stage_ids[chunk : chunk + 500]
        q = select(s).where(s.c.stage_id.in_(ids)).order_by(s.c.gseq)
        for r in conn.execute(q).mappings():
            out[r["stage_id"]].append(signoff_of_row(r))
    return out


def _summary(row: dict[str, Any], signed: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "stage_id": row["stage_id"],
        "ts": iso(row["ts"]),
        "suite": row["suite"],
        "graph": row["graph"],
        "verdict": row["verdict"],
        "kind": row["kind"],
        "cases": len(json.loads(row["case_run_ids"])),
        "signoff": signed[-1] if signed else None,
    }
