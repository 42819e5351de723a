"""The console's two locks: an access token off loopback, and a CSRF token on every POST.

``Guard`` is ASGI middleware in front of every route. With a token (required when the app
is bound to anything but loopback) a request must carry it — header ``Authorization:
Bearer T`` or ``X-Lgaudit-Token``, query ``?token=T`` (which sets a cookie), or that cookie —
else 401. Without one, only loopback ``Host`` names are served (a page of another site
rebound to 127.0.0.1 gets 400). Every response sets a random CSRF cookie if the request had
none; a POST is refused with 403 unless its form's ``csrf`` field equals that cookie
(double submit) and its ``Origin``, when sent, is this host.
"""

from __future__ import annotations

import ipaddress
import secrets
from hmac import compare_digest
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "lgaudit_token"
CSRF_COOKIE = "lgaudit_csrf"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 64 * 1024
#: on every answer: only this app's own script and styles run (a recorded value that got
#: past escaping still could not), no framing (the kill form), no token in a Referer
HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host.strip("[]") in _LOOPBACK_NAMES or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _cookie(name: str, value: str) -> str:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict"


class Guard:
    """Token and CSRF checks around the app (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = _cookies(headers.get("cookie", ""))
        set_cookies: list[str] = []
        if self.token is None:
            if not is_loopback(_host_name(headers.get("host", ""))):
                refused = PlainTextResponse("lgaudit ui: not a loopback host", 400)
                await refused(scope, receive, send)
                return
        else:
            query = QueryParams(scope.get("query_string", b""))
            given = _given_token(headers, query, cookies)
            if given is None or not compare_digest(given.encode(), self.token.encode()):
                await PlainTextResponse("lgaudit ui: a token is required", 401)(
                    scope, receive, send
                )
                return
            if cookies.get(TOKEN_COOKIE) != self.token:
                set_cookies.append(_cookie(TOKEN_COOKIE, self.token))
        csrf = cookies.get(CSRF_COOKIE, "")
        had_csrf = len(csrf) >= 20
        if not had_csrf:
            csrf = new_token()
            set_cookies.append(_cookie(CSRF_COOKIE, csrf))
        scope.setdefault("state", {})["csrf"] = csrf
        if scope["method"] not in ("GET", "HEAD"):
            body = await _read_body(receive)
            refusal = self._refusal(headers, body, csrf if had_csrf else None)
            if refusal is not None or body is None:
                await PlainTextResponse(f"lgaudit ui: {refusal or 'refused'}", 403)(
                    scope, receive, send
                )
                return
            receive = _replay(body)

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for c in set_cookies:
                    out.append("set-cookie", c)
                for name, value in HEADERS.items():
                    out[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    @staticmethod
    def _refusal(headers: Headers, body: bytes | None, csrf: str | None) -> str | None:
        if body is None:
            return "form too large"
        origin = headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != headers.get("host"):
            return "a form of another site"
        fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        sent = fields.get(CSRF_FIELD, "")
        if csrf is None or not sent or not compare_digest(sent.encode(), csrf.encode()):
            return "missing or wrong CSRF token (reload the page and submit again)"
        return None


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _given_token(headers: Headers, query: QueryParams, cookies: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-lgaudit-token") or query.get("token") or cookies.get(TOKEN_COOKIE)


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out.setdefault(name, value)
    return out


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or ``None`` past ``MAX_FORM_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
