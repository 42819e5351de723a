"""``lgaudit ui``: the local review console, a Starlette app over the store.

Every page is rendered on the server from the same document the CLI's ``--json`` prints,
and is also served as that JSON under ``/api/...``. Nothing is fetched from outside: plain
CSS and a little hand-written JS from ``static/``.

How to add a page:

1. Write ``lgaudit/ui/views/NAME.py`` with a function per route, registered with
   ``@page("/path/{id}", "NAME.html")`` (returns the template's context: a dict whose
   ``"doc"`` is the page's JSON; or a ``Response``, e.g. a redirect),
   ``@api("/api/path/{id}")`` (returns the JSON document) and, for a write,
   ``@action("/path")`` (an ``async`` POST handler; the CSRF token is already checked and
   the form is ``await form_of(request)``). Raise ``NotFound`` (or let
   ``UnknownRunError`` out) for a 404 page; other ``BadInputError``\\s become 400 pages.
2. Write ``lgaudit/ui/templates/NAME.html`` extending ``base.html``; every form that
   POSTs includes ``{{ csrf_field() }}``. Never use ``|safe`` on recorded data.
3. Add ``"NAME"`` to ``VIEWS`` in ``lgaudit/ui/views/__init__.py`` (and an entry to
   ``NAV`` there for the top bar).

Every view reaches the store as ``ui(request).store`` (opened to read) and its URL as
``ui(request).url`` (for library functions that append, as ``kill(url=...)`` does).
Every answer carries a Content-Security-Policy that runs only ``/static/ui.js``: no inline
script or style in templates.

``create_app(url, token=...)`` builds the app; ``lgaudit/cli/ui.py`` serves it with uvicorn.
"""

from __future__ import annotations

from lgaudit.ui.app import create_app

__all__ = ["create_app"]
