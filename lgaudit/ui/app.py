"""``create_app``: the Starlette app over one store, its routes built from the registry."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from lgaudit.errors import BadInputError, LgauditError, UnknownRunError
from lgaudit.ui import values
from lgaudit.ui.pages import ACTIONS, APIS, PAGES, Api, NotFound, Page, UIState, render
from lgaudit.ui.security import Guard
from lgaudit.ui.views import NAV, VIEWS

STATIC = Path(__file__).parent / "static"


def templates() -> Environment:
    """Jinja2 with autoescape on every template: recorded values are always text."""
    env = Environment(
        loader=PackageLoader("lgaudit.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(values.FILTERS)
    env.globals["nav"] = NAV
    return env


def create_app(url: str, *, token: str | None = None) -> Starlette:
    """The review console over the store at ``url`` (opened to read; kill orders and
    sign-offs are appended through their library functions). ``token``: every request must
    carry it (``lgaudit ui`` always gives one off loopback)."""
    from lgaudit.store import Store

    for name in VIEWS:
        importlib.import_module(f"lgaudit.ui.views.{name}")
    env = templates()
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=STATIC), name="static")]
    routes += [Route(p.path, _html_endpoint(p), methods=["GET"]) for p in PAGES]
    routes += [Route(a.path, _api_endpoint(a), methods=["GET"]) for a in APIS]
    routes += [Route(a.path, _guarded_action(a.handle), methods=["POST"]) for a in ACTIONS]
    store = Store.open(url)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token)],
        exception_handlers={HTTPException: _http_error()},
        lifespan=_closing(store),
    )
    app.state.ui = UIState(url=url, store=store, token=token)
    app.state.templates = env
    return app


def _closing(store: Any) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    return lifespan


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    title = {404: "Not found", 400: "Bad request"}.get(status, "Error")
    context = {"status": status, "title": title, "message": message}
    return render(request, "error.html", context, status)


def _status_of(e: LgauditError) -> int:
    return 404 if isinstance(e, (UnknownRunError, NotFound)) else 400


def _html_endpoint(p: Page) -> Any:
    def endpoint(request: Request) -> Response:
        try:
            context = p.load(request)
        except (BadInputError, LgauditError) as e:
            return _error_page(request, _status_of(e), str(e))
        if isinstance(context, Response):
            return context
        return render(request, p.template, context)

    return endpoint


def _api_endpoint(a: Api) -> Any:
    def endpoint(request: Request) -> Response:
        try:
            doc = a.load(request)
        except LgauditError as e:
            return JSONResponse({"error": str(e)}, status_code=_status_of(e))
        if isinstance(doc, Iterator):  # a long document, written as it is read
            return StreamingResponse(doc, media_type="application/json")
        body = json.dumps(doc, default=str, ensure_ascii=False, indent=2)
        return Response(body, media_type="application/json")

    return endpoint


def _guarded_action(handle: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handle(request)
        except LgauditError as e:
            return _error_page(request, _status_of(e), str(e))
        return response

    return endpoint


def _http_error() -> Any:
    def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    return handler
