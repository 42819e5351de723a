"""Appending one review row (a stage result or a sign-off) to the hash chain."""

from __future__ import annotations

import uuid
from typing import Any

from lgaudit.store import Store
from lgaudit.store.records import REVIEW_GRAPH, NewEvent, NewRun


def append_row(store: Store, name: str, summary: dict[str, Any], model: Any, row: Any) -> None:
    """Record ``row`` of ``model``'s table by a ``custom`` event (``name``, ``summary`` as
    its data) of a short run of its own (graph ``lgaudit:review``: ``run_start``, the
    event, ``run_end``): the event's ``rows_digest`` covers the row, so ``verify`` finds
    it changed or removed, as it does kill orders and shadow progress."""
    run = NewRun(run_id=str(uuid.uuid4()), graph=REVIEW_GRAPH)
    store.append(
        [
            NewEvent(run=run, kind="run_start", payload={"graph": REVIEW_GRAPH}),
            NewEvent(
                run=run,
                kind="custom",
                payload={"name": name, "data": summary},
                rows=[(model, row)],
            ),
            NewEvent(run=run, kind="run_end", payload={"status": "succeeded"}),
        ]
    )


def new_id() -> str:
    """A stage or sign-off id: 32 hex digits (any unique prefix of 6 or more selects it)."""
    return uuid.uuid4().hex
