"""How many runs have each status, among the newest runs matching ``Store.runs``' filters:
one grouped query over their last end events, and the liveness of those with none.

Counting every run of a rare status reads every run (a store of 100,000 runs takes about a
second), so the counts are taken over a window of the newest ``window`` matching runs, and
the total of matching runs is counted apart (``lgaudit ui``'s run list says which).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from lgaudit.store.engine import translate_errors
from lgaudit.store.run_queries import (
    _END_KINDS,
    _INTERRUPTED_END,
    _NEWEST_FIRST,
    STATUSES,
    last_end,
)
from lgaudit.store.store import Store
from lgaudit.store.tables import events as event_table
from lgaudit.store.tables import runs as run_table

#: the newest runs counted by status
WINDOW = 10_000


def status_counts(
    store: Store,
    *,
    thread_id: str | None = None,
    graph: str | None = None,
    environment: str | None = None,
    kind: str | None = None,
    suite: str | None = None,
    window: int = WINDOW,
) -> dict[str, Any]:
    """``{"counts": {status: n}, "counted": runs counted, "total": runs matching}``: the
    statuses of the newest ``window`` runs matching the filters, derived as ``Store.runs``
    derives them (the last end event; ``running`` or ``abandoned`` by the recorder's
    liveness)."""
    conds = store._conditions(thread_id, None, graph, environment, kind, suite, None)
    newest = select(run_table.c.run_id).where(*conds).order_by(*_NEWEST_FIRST).limit(window)
    ids = newest.subquery()
    end = event_table.alias("end_event")
    later = event_table.alias("later_end")
    last = last_end(end)
    status = case(
        (end.c.kind == "run_error", "failed"),
        (end.c.payload.like(_INTERRUPTED_END), "interrupted"),
        else_="succeeded",
    )
    by_status = (
        select(status, func.count())
        .where(end.c.run_id.in_(select(ids.c.run_id)), end.c.kind.in_(_END_KINDS), last)
        .group_by(status)
    )
    any_end = select(later.c.gseq).where(later.c.run_id == ids.c.run_id)
    open_runs = select(ids.c.run_id).where(~any_end.where(later.c.kind.in_(_END_KINDS)).exists())
    counts = dict.fromkeys(STATUSES, 0)
    with translate_errors(), store._read.connect() as conn:
        for name, n in conn.execute(by_status):
            counts[name] = int(n)
        counted = int(conn.execute(select(func.count()).select_from(ids)).scalar() or 0)
        unended = [r[0] for r in conn.execute(open_runs)] if counted > sum(counts.values()) else []
        total = counted
        if counted == window:
            q = select(func.count()).select_from(run_table).where(*conds)
            total = int(conn.execute(q).scalar() or 0)
    for rec in store.runs(run_ids=unended, limit=None) if unended else []:
        counts[rec["status"]] += 1
    return {"counts": counts, "counted": counted, "total": total}
