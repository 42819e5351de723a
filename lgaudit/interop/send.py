"""Posting an OTLP request to an OTLP/HTTP collector (Phoenix, Jaeger, Langfuse, LangSmith).

The endpoint is the traces URL itself (``http://localhost:6006/v1/traces``); a URL with no
path gets OTLP's default ``/v1/traces``. Headers (an ``Authorization`` for Langfuse or
LangSmith) come from ``headers`` and, as the OpenTelemetry exporters read them, from
``$OTEL_EXPORTER_OTLP_TRACES_HEADERS`` / ``$OTEL_EXPORTER_OTLP_HEADERS`` (``k=v,k2=v2``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lgaudit.errors import LgauditError

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

PROTOCOLS = ("http/protobuf", "http/json")


class ExportError(LgauditError):
    """The collector could not be reached or refused the spans."""


def traces_url(endpoint: str) -> str:
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExportError(f"--endpoint {endpoint!r} is not an http(s) URL")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/traces")
    return urllib.parse.urlunsplit(parts)


def env_headers() -> dict[str, str]:
    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    out: dict[str, str] = {}
    for item in raw.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return out


def post(
    request: ExportTraceServiceRequest,
    endpoint: str,
    *,
    protocol: str = "http/protobuf",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> int:
    """POST the request; returns the number of spans sent. Raises ``ExportError`` (one
    line: the URL and the collector's status or the network error)."""
    from lgaudit.interop.otlp import to_json

    url = traces_url(endpoint)
    if protocol == "http/protobuf":
        body, content_type = request.SerializeToString(), "application/x-protobuf"
    elif protocol == "http/json":
        body, content_type = json.dumps(to_json(request)).encode(), "application/json"
    else:
        raise ExportError(f"unknown protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")
    sent = {**env_headers(), **(headers or {}), "Content-Type": content_type}
    req = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as e:
        detail = e.read(300).decode("utf-8", "replace").strip().splitlines()
        said = f": {detail[0]}" if detail else ""
        raise ExportError(f"{url} refused the spans: HTTP {e.code}{said}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ExportError(f"cannot reach {url}: {reason}") from e
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
