"""``/shadow``: per suite and candidate, the rolling verdict of its shadows and every run
behind it, each beside its source run (the diff page). ``/api/shadow`` is the list of
those documents (``lgaudit shadow --json``'s ``suite``, ``graph``, ``verdict``, ``checks``,
``replayed`` and ``runs``, with the stage result that recorded the verdict)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from lgaudit.review import shadow_verdicts
from lgaudit.ui.pages import api, page, ui


def _given(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {k: (q.get(k) or "").strip() or None for k in ("suite", "graph")}


@api("/api/shadow")
def shadow_json(request: Request) -> Any:
    return shadow_verdicts(ui(request).store, **_given(request))


@page("/shadow", "shadow.html")
def shadow_page(request: Request) -> dict[str, Any]:
    given = _given(request)
    found = shadow_verdicts(ui(request).store, **given)
    return {"doc": found, "shadows": found, "filters": given}
