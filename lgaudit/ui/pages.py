"""The registry of pages, APIs and actions, and what a view reaches: the store and its URL."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from lgaudit.errors import BadInputError
from lgaudit.ui.security import CSRF_FIELD

if TYPE_CHECKING:
    from lgaudit.store import Store

PageLoad = Callable[[Request], Any]  # a template context, or a Response (a redirect)
ApiLoad = Callable[[Request], Any]
Action = Callable[[Request], Awaitable[Response]]


#: library results kept by ``UIState.remembered``
CACHED = 16


class NotFound(BadInputError):
    """An unknown id in a page's path: a 404 page."""


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    load: PageLoad


@dataclass(frozen=True)
class Api:
    path: str
    load: ApiLoad


@dataclass(frozen=True)
class PostAction:
    path: str
    handle: Action


PAGES: list[Page] = []
APIS: list[Api] = []
ACTIONS: list[PostAction] = []


def page(path: str, template: str) -> Callable[[PageLoad], PageLoad]:
    """Register an HTML page: ``fn(request)`` returns the template's context."""

    def register(fn: PageLoad) -> PageLoad:
        PAGES.append(Page(path, template, fn))
        return fn

    return register


def api(path: str) -> Callable[[ApiLoad], ApiLoad]:
    """Register a JSON document: ``fn(request)`` returns it (the CLI's ``--json``)."""

    def register(fn: ApiLoad) -> ApiLoad:
        APIS.append(Api(path, fn))
        return fn

    return register


def action(path: str) -> Callable[[Action], Action]:
    """Register a POST handler (its CSRF token is checked before it runs)."""

    def register(fn: Action) -> Action:
        ACTIONS.append(PostAction(path, fn))
        return fn

    return register


@dataclass
class UIState:
    """What every view reaches through ``ui(request)``."""

    url: str
    store: Store
    token: str | None = None
    #: results of library calls on runs that have ended (they cannot change), newest last
    cache: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def remembered(self, key: tuple[Any, ...], compute: Callable[[], Any], keep: bool) -> Any:
        """``compute()``, kept under ``key`` for the next ask when ``keep`` (the last
        ``CACHED`` results are kept)."""
        with self.cache_lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        value = compute()
        if keep:
            with self.cache_lock:
                self.cache[key] = value
                while len(self.cache) > CACHED:
                    self.cache.popitem(last=False)
        return value


def ui(request: Request) -> UIState:
    state: UIState = request.app.state.ui
    return state


async def form_of(request: Request) -> dict[str, str]:
    """A POSTed form's fields (the last value of each), from the urlencoded body."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def query_list(request: Request, name: str) -> list[str]:
    """Every non-empty value of a repeated query parameter."""
    return [v for v in request.query_params.getlist(name) if v.strip()]


def jsonable(value: Any) -> Any:
    """``value`` as the CLI's ``emit_json`` would print it (``default=str``)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """A template of ``lgaudit/ui/templates`` rendered with ``context`` (autoescaped)."""
    csrf = request.state.csrf

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf)

    env = request.app.state.templates
    html = env.get_template(template).render(
        request=request, here=request.url.path, csrf_field=csrf_field, **context
    )
    return HTMLResponse(html, status_code=status)
