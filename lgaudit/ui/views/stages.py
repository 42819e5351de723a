"""``/stages`` and ``/stages/STAGE``: stage results, newest first, and one result whole —
its verdict, checks linked to their cases, cases by outcome beside their source runs,
coverage with each gate's answers, latency and load, the candidate's earlier results, and
the sign-off form with the sign-offs so far. ``/api/stages`` is ``lgaudit stages --json``,
``/api/stages/STAGE`` the stage's ``lgaudit stage --json`` document and
``/api/stages/STAGE/signoffs`` ``lgaudit signoffs STAGE --json``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lgaudit.errors import BadInputError, UnknownStageError
from lgaudit.review import get_stage, list_signoffs, list_stages, promotable
from lgaudit.ui.pages import NotFound, action, api, form_of, page, ui

#: the case kinds each check of the gate judges (a check not named here judges every case)
CHECK_KINDS = {
    "traffic": ("traffic",),
    "scenarios": ("scenario",),
    "oversight": ("scenario",),
    "faults": ("fault",),
    "load": ("load",),
    "pending": ("pending",),
}
#: outcomes a reviewer looks at first
BAD_OUTCOMES = ("changed", "failed", "timeout", "broken")


def _stage(request: Request) -> dict[str, Any]:
    try:
        return get_stage(ui(request).store, request.path_params["stage"])
    except UnknownStageError as e:
        raise NotFound(str(e)) from None


def _filters(request: Request) -> tuple[dict[str, str | None], int]:
    q = request.query_params
    given = {k: (q.get(k) or "").strip() or None for k in ("suite", "graph")}
    raw = q.get("limit") or "50"
    if not raw.isdigit() or int(raw) < 1:
        raise BadInputError(f"limit must be a number from 1: {raw!r}")
    return given, int(raw)


@api("/api/stages")
def stages_json(request: Request) -> Any:
    """``lgaudit stages --json`` with the same filters (``suite``, ``graph``, ``limit``)."""
    given, limit = _filters(request)
    return list_stages(ui(request).store, limit=limit, **given)


@page("/stages", "stages.html")
def stages_page(request: Request) -> dict[str, Any]:
    given, limit = _filters(request)
    found = list_stages(ui(request).store, limit=limit, **given)
    return {
        "doc": found,
        "stages": found,
        "filters": given,
        "query": {k: v for k, v in given.items() if v is not None},
    }


@api("/api/stages/{stage}")
def stage_json(request: Request) -> Any:
    """The stage's ``lgaudit stage --json`` document (a shadow's: ``lgaudit shadow --json``)."""
    return _stage(request)["document"]


@api("/api/stages/{stage}/signoffs")
def signoffs_json(request: Request) -> Any:
    """``lgaudit signoffs STAGE --json``."""
    stage = _stage(request)
    return list_signoffs(ui(request).store, stage["stage_id"])


@page("/stages/{stage}", "stage.html")
def stage_page(request: Request) -> dict[str, Any]:
    store = ui(request).store
    stage = _stage(request)
    doc = stage["document"]
    cases = [c for c in doc.get("cases") or [] if isinstance(c, dict)]
    outcome = (request.query_params.get("outcome") or "").strip() or None
    check = (request.query_params.get("check") or "").strip() or None
    checks = []
    require = doc.get("require")
    for c in doc.get("checks") or []:
        mine = _cases_of(c["name"], cases)
        checks.append(
            {
                **c,
                "required": require is None or c["name"] in require,
                "cases": len(mine),
                "bad": sum(x["outcome"] in BAD_OUTCOMES for x in mine),
            }
        )
    if check is not None and check not in {c["name"] for c in checks}:
        raise BadInputError(f"this stage has no check {check!r}")
    shown = _cases_of(check, cases) if check is not None else cases
    if outcome is not None:
        shown = [c for c in shown if c.get("outcome") == outcome]
    counts = Counter(c.get("outcome") for c in cases)
    history = list_stages(store, suite=stage["suite"], graph=stage["graph"], limit=None)
    ids = [s["stage_id"] for s in history]  # newest first: the earlier ones come after it
    earlier = history[ids.index(stage["stage_id"]) + 1 :] if stage["stage_id"] in ids else []
    newest = list_stages(store, suite=stage["suite"], graph=stage["graph"], kind="stage", limit=1)
    answer = None
    if stage["kind"] == "stage" and newest and newest[0]["stage_id"] == stage["stage_id"]:
        answer = promotable(store, stage["suite"], graph=stage["graph"]).to_json()
    return {
        "doc": doc,
        "stage": stage,
        "checks": checks,
        "cases": shown,
        "all_cases": len(cases),
        "outcomes": sorted(counts.items(), key=lambda kv: (kv[0] not in BAD_OUTCOMES, str(kv[0]))),
        "outcome": outcome,
        "check": check,
        "coverage": doc.get("coverage") or {},
        "latency": doc.get("latency"),
        "load": doc.get("load"),
        "runs": doc.get("runs") if stage["kind"] == "shadow" else None,
        "earlier": earlier,
        "signoffs": list(reversed(stage["signoffs"])),
        "promotable": answer,
        "blocked": stage["verdict"] == "block",
        "signed": request.query_params.get("signed"),
        "bad_outcomes": BAD_OUTCOMES,
    }


def _cases_of(check: str | None, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = CHECK_KINDS.get(check or "")
    return cases if kinds is None else [c for c in cases if c.get("kind") in kinds]


@action("/stages/{stage}/signoff")
async def signoff_post(request: Request) -> Response:
    """Record a sign-off (``by``, ``decision``, ``note``, ``override``) of the stage."""
    from starlette.concurrency import run_in_threadpool

    from lgaudit.review.public import signoff

    form = await form_of(request)
    url = ui(request).url
    stage = _stage(request)

    def field(name: str) -> str | None:
        return (form.get(name) or "").strip() or None

    done = await run_in_threadpool(
        lambda: signoff(
            stage["stage_id"],
            by=form.get("by") or "",
            decision=form.get("decision") or "",
            note=field("note"),
            override=field("override"),
            url=url,
        )
    )
    target = f"/stages/{stage['stage_id']}?signed={done['signoff_id']}#signoffs"
    return RedirectResponse(target, status_code=303)
