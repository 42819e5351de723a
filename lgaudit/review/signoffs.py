"""Sign-offs: a person approves or rejects a stage result (``lgaudit signoff``); approving
a ``block`` verdict needs an override reason. Listed by ``lgaudit signoffs``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lgaudit.errors import BadInputError
from lgaudit.review.record import append_row, new_id
from lgaudit.review.results import get_stage, resolve_stage, signoff_of_row
from lgaudit.store import Store
from lgaudit.store.engine import translate_errors
from lgaudit.store.records import now_us
from lgaudit.store.tables import signoffs as signoff_table

DECISIONS = ("approve", "reject")


def add_signoff(
    store: Store,
    ref: str,
    *,
    by: str,
    decision: str,
    note: str | None = None,
    override: str | None = None,
) -> dict[str, Any]:
    """Record a sign-off of the stage result ``ref`` (id or unique prefix) by ``by``:
    ``decision`` ``approve`` or ``reject``, with an optional ``note``. Approving a
    ``block`` verdict needs ``override`` (the reason, recorded); ``override`` is refused
    anywhere else. Returns the sign-off as ``list_signoffs`` gives it. Bad input (an
    unknown stage, an empty name, another decision) raises before anything is recorded."""
    by = (by or "").strip()
    if not by:
        raise BadInputError("a sign-off needs --by NAME (who signs)")
    if decision not in DECISIONS:
        raise BadInputError(f"--decision must be approve or reject, not {decision!r}")
    if override is not None and not override.strip():
        raise BadInputError("--override needs a reason (it is recorded)")
    stage = get_stage(store, ref)
    blocked = stage["verdict"] == "block"
    if blocked and decision == "approve" and override is None:
        raise BadInputError(
            f"stage {stage['stage_id'][:12]}'s verdict is block: approving it needs "
            "--override REASON"
        )
    if override is not None and not (blocked and decision == "approve"):
        raise BadInputError("--override is only for approving a block verdict")
    row = {
        "signoff_id": new_id(),
        "stage_id": stage["stage_id"],
        "ts": now_us(),
        "signed_by": by,
        "decision": decision,
        "note": note if note and note.strip() else None,
        "override": override,
    }
    from lgaudit.store.schema import SignoffRow  # the writer's row model (and the ORM)

    summary = {k: row[k] for k in ("signoff_id", "stage_id", "signed_by", "decision")}
    append_row(store, "lgaudit:signoff", summary, SignoffRow, row)
    return signoff_of_row(row)


def list_signoffs(store: Store, ref: str | None = None) -> list[dict[str, Any]]:
    """Sign-offs, newest first (of one stage result, by id or unique prefix, when ``ref``
    is given): ``signoff_id``, ``stage_id``, ``ts``, ``by``, ``decision``, ``note``,
    ``override``."""
    s = signoff_table
    q = select(s).order_by(s.c.gseq.desc())
    if ref is not None:
        q = q.where(s.c.stage_id == resolve_stage(store, ref))
    with translate_errors(), store._read.connect() as conn:
        return [signoff_of_row(r) for r in conn.execute(q).mappings()]
