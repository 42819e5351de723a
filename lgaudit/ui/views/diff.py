"""``/diff/A/B``: two runs side by side, aligned step by step as ``lgaudit diff`` aligns
them, the first divergence marked (and scrolled to), changed text highlighted inside values,
ignore paths toggled with ``?ignore=PATH``. ``/api/diff/A/B`` is ``lgaudit diff --json``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

from lgaudit.errors import BadInputError
from lgaudit.ui import values
from lgaudit.ui.pages import api, page, query_list, ui

#: distinct difference paths offered as ignore toggles
MAX_TOGGLES = 30
#: aligned steps to a page (the page with the first divergence opens first)
ROWS_PER_PAGE = 200


def _diff(request: Request) -> Any:
    """``lgaudit diff``'s result; kept for the next page of it when both runs have ended."""
    from lgaudit.audit import diff

    state = ui(request)
    run_a, run_b = (state.store.run(request.path_params[k]) for k in ("a", "b"))
    ignore = query_list(request, "ignore")
    ended = all(r["ended_at"] is not None for r in (run_a, run_b))
    key = ("diff", run_a["run_id"], run_b["run_id"], tuple(ignore))
    return state.remembered(
        key, lambda: diff(state.store, run_a["run_id"], run_b["run_id"], ignore=ignore), ended
    )


@page("/diff", "error.html")
def diff_chosen(request: Request) -> Any:
    """The runs list's compare form: ``/diff?a=RUN&b=RUN`` goes to ``/diff/A/B``."""
    a, b = (request.query_params.get(k, "").strip() for k in ("a", "b"))
    if not a or not b:
        raise BadInputError("choose two runs to compare: one as a, one as b")
    return RedirectResponse(f"/diff/{quote(a, safe='')}/{quote(b, safe='')}", status_code=303)


@api("/api/diff/{a}/{b}")
def diff_json(request: Request) -> Any:
    return _diff(request).to_json()


@page("/diff/{a}/{b}", "diff.html")
def diff_page(request: Request) -> dict[str, Any]:
    store = ui(request).store
    result = _diff(request)
    doc = result.to_json()
    first = doc["first_divergence"]
    entries = doc["steps"]
    at = _first_at(entries, first)
    pages = max(1, -(-len(entries) // ROWS_PER_PAGE))
    raw = request.query_params.get("page")
    number = (at[0] // ROWS_PER_PAGE + 1) if at and not raw else _page_number(raw or "1", pages)
    start = (number - 1) * ROWS_PER_PAGE
    rows: list[dict[str, Any]] = []
    for i in range(start, min(len(entries), start + ROWS_PER_PAGE)):
        s = entries[i]
        if s["status"] == "same" and rows and rows[-1]["status"] == "same":
            rows[-1]["last_step"] = s["step"]  # a run of identical steps: one row
            rows[-1]["folded"] += 1
            continue
        diffs = []
        for j, d in enumerate(s["differences"]):
            seg_a, seg_b = values.highlight(d["a"], d["b"])
            diffs.append({**d, "seg_a": seg_a, "seg_b": seg_b, "first": at == (i, j)})
        rows.append(
            {
                **s,
                "anchor": f"d-{i}",
                "diffs": diffs,
                "first": bool(at and at[0] == i),
                "last_step": s["step"],
                "folded": 1,
            }  # fmt: skip
        )
    ignored = query_list(request, "ignore")
    paths = list(dict.fromkeys(d["path"] for s in entries for d in s["differences"]))
    toggles = ignored + [p for p in paths if p not in ignored][:MAX_TOGGLES]
    return {
        "doc": doc,
        "run_a": store.run(result.run_a),
        "run_b": store.run(result.run_b),
        "identical": doc["identical"],
        "first": first,
        "first_page": at[0] // ROWS_PER_PAGE + 1 if at else None,
        "rows": rows,
        "page": number,
        "pages": pages,
        "ignored": ignored,
        "query": {"ignore": ignored},
        "toggles": toggles,
        "fork_step": result.fork_step,
    }


def _first_at(
    entries: list[dict[str, Any]], first: dict[str, Any] | None
) -> tuple[int, int] | None:
    """Where the first divergence is: (aligned step, difference) indexes."""
    if first is None:
        return None
    for i, s in enumerate(entries):
        for j, d in enumerate(s["differences"]):
            if s["step"] == first["step"] and (d["kind"], d["path"]) == (
                first["kind"],
                first["path"],
            ):
                return i, j
    return None


def _page_number(raw: str, pages: int) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= pages:
        raise BadInputError(f"page must be a number from 1 to {pages}: {raw!r}")
    return int(raw)
