"""``/kills``: kill orders (newest first), the live recorders and running runs each order in
force reaches now, and the forms that issue and lift orders (``lgaudit kill``).
``/api/kills`` is ``lgaudit kills --json``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lgaudit.ui.pages import action, api, form_of, page, ui


@api("/api/kills")
def kills_json(request: Request) -> Any:
    from lgaudit.control.kills import kills

    return [k.to_json() for k in kills(url=ui(request).url)]


@page("/kills", "kills.html")
def kills_page(request: Request) -> dict[str, Any]:
    from lgaudit.control.kills import kills, reach

    state = ui(request)
    orders = kills(url=state.url)
    rows = []
    for k in orders:
        row = k.to_json()
        row["target"] = k.target()
        if k.active:
            row["reach_now"] = reach(state.store, k.environment, k.thread_id, k.run_id).to_json()
        rows.append(row)
    return {
        "doc": [k.to_json() for k in orders],
        "orders": rows,
        "active": sum(1 for k in orders if k.active),
        "done": request.query_params.get("done"),
    }


@action("/kills")
async def kills_post(request: Request) -> Response:
    """Issue an order (``reason`` and at most one of ``environment``, ``thread``, ``run``)
    or, with ``lift=ID``, lift one."""
    from starlette.concurrency import run_in_threadpool

    from lgaudit.control.kills import kill, lift_kill

    form = await form_of(request)
    url = ui(request).url

    def field(name: str) -> str | None:
        return (form.get(name) or "").strip() or None

    lift = field("lift")
    if lift is not None:
        order = await run_in_threadpool(lambda: lift_kill(lift, reason=field("reason"), url=url))
    else:
        order = await run_in_threadpool(
            lambda: kill(
                reason=form.get("reason") or "",
                environment=field("environment"),
                thread=field("thread"),
                run=field("run"),
                url=url,
            )
        )
    return RedirectResponse(f"/kills?done={order.id}", status_code=303)
