"""``/``: the runs, newest first, filtered as ``lgaudit runs`` filters them, with counts per
status and pages of ``PAGE_SIZE``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from lgaudit.errors import BadInputError
from lgaudit.store.run_counts import status_counts
from lgaudit.store.run_queries import KINDS, STATUSES
from lgaudit.ui.pages import api, page, ui

PAGE_SIZE = 50
FILTERS = ("graph", "environment", "status", "kind", "thread", "suite")


def _filters(request: Request) -> dict[str, str | None]:
    q = request.query_params
    given = {name: (q.get(name) or "").strip() or None for name in FILTERS}
    if given["status"] is not None and given["status"] not in STATUSES:
        raise BadInputError(f"unknown status {given['status']!r}: use one of {', '.join(STATUSES)}")
    return given


def _store_filters(f: dict[str, str | None]) -> dict[str, str | None]:
    out = dict(f)
    out["thread_id"] = out.pop("thread")
    return out


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page") or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise BadInputError(f"page must be a number from 1: {raw!r}")
    return int(raw)


@api("/api/runs")
def runs_json(request: Request) -> Any:
    """``lgaudit runs --json`` with the same filters (``limit`` default 50)."""
    f = _store_filters(_filters(request))
    raw = request.query_params.get("limit") or "50"
    if not raw.isdigit() or int(raw) < 1:
        raise BadInputError(f"limit must be a number from 1: {raw!r}")
    return ui(request).store.runs(limit=int(raw), **f)


@page("/", "runs.html")
def runs_page(request: Request) -> dict[str, Any]:
    given = _filters(request)
    f = _store_filters(given)
    number = _page_number(request)
    store = ui(request).store
    found = store.runs(limit=number * PAGE_SIZE + 1, **f)
    records = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    has_next = len(found) > number * PAGE_SIZE
    counted = status_counts(
        store,
        thread_id=f["thread_id"],
        graph=f["graph"],
        environment=f["environment"],
        kind=f["kind"],
        suite=f["suite"],
    )
    return {
        "doc": records,
        "runs": records,
        "filters": given,
        "statuses": STATUSES,
        "kinds": KINDS,
        "counts": counted["counts"],
        "counted": counted["counted"],
        "total": counted["total"],
        "page": number,
        "has_next": has_next,
        "query": {k: v for k, v in given.items() if v is not None},
    }
