"""``/diff/A/B``: two runs side by side, aligned step by step as ``lgaudit diff`` aligns
them, the first divergence marked (and scrolled to), changed text highlighted inside values,
ignore paths toggled with ``?ignore=PATH``. ``/api/diff/A/B`` is ``lgaudit diff --json``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from lgaudit.ui import values
from lgaudit.ui.pages import api, page, query_list, ui

#: distinct difference paths offered as ignore toggles
MAX_TOGGLES = 30


def _diff(request: Request) -> Any:
    from lgaudit.audit import diff

    p = request.path_params
    return diff(ui(request).store, p["a"], p["b"], ignore=query_list(request, "ignore"))


@api("/api/diff/{a}/{b}")
def diff_json(request: Request) -> Any:
    return _diff(request).to_json()


@page("/diff/{a}/{b}", "diff.html")
def diff_page(request: Request) -> dict[str, Any]:
    store = ui(request).store
    result = _diff(request)
    doc = result.to_json()
    first = doc["first_divergence"]
    rows: list[dict[str, Any]] = []
    paths: list[str] = []
    marked = False
    for i, s in enumerate(doc["steps"]):
        diffs = []
        for d in s["differences"]:
            is_first = (
                not marked
                and first is not None
                and d["path"] == first["path"]
                and d["kind"] == first["kind"]
                and s["step"] == first["step"]
            )
            marked = marked or is_first
            seg_a, seg_b = values.highlight(d["a"], d["b"])
            diffs.append({**d, "seg_a": seg_a, "seg_b": seg_b, "first": is_first})
            if d["path"] not in paths:
                paths.append(d["path"])
        rows.append(
            {
                **s,
                "anchor": f"d-{i}",
                "diffs": diffs,
                "first": any(d["first"] for d in diffs),
            }
        )
    ignored = query_list(request, "ignore")
    toggles = ignored + [p for p in paths if p not in ignored][:MAX_TOGGLES]
    return {
        "doc": doc,
        "run_a": store.run(result.run_a),
        "run_b": store.run(result.run_b),
        "identical": doc["identical"],
        "first": first,
        "rows": rows,
        "ignored": ignored,
        "toggles": toggles,
        "fork_step": result.fork_step,
    }
