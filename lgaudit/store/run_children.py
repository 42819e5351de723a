"""The runs made from a run: its replays and stage cases (their ``parent_run_id``)."""

from __future__ import annotations

from sqlalchemy import select

from lgaudit.store.engine import translate_errors
from lgaudit.store.records import RunRecord
from lgaudit.store.store import Store
from lgaudit.store.tables import runs as run_table

#: children listed at most
MAX_CHILDREN = 100


def child_runs(store: Store, run_id: str, *, limit: int = MAX_CHILDREN) -> list[RunRecord]:
    """The runs whose parent is ``run_id`` (a full id), newest first."""
    q = (
        select(run_table.c.run_id)
        .where(run_table.c.parent_run_id == run_id)
        .order_by(run_table.c.started_at.desc())
        .limit(limit)
    )
    with translate_errors(), store._read.connect() as conn:
        ids = [row[0] for row in conn.execute(q)]
    return store.runs(run_ids=ids, limit=None) if ids else []
