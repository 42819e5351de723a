"""Recorded runs as an OTLP ``ExportTraceServiceRequest`` (``opentelemetry-proto``), in
protobuf or OTLP JSON.

OTLP JSON is protobuf's JSON mapping with two differences the OTLP specification makes:
trace and span ids are hex strings, not base64, and enums are numbers. ``to_json`` writes
that; ``from_json`` reads it back into the message (either form of ids).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lgaudit.interop.spans import SpanData, TraceData, run_trace

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    from lgaudit.store import Store

SCOPE = "lgaudit"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lgaudit")
    except PackageNotFoundError:  # pragma: no cover - a source checkout not installed
        return "0"


def _key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    out = []
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=str(value))
        out.append(KeyValue(key=key, value=any_value))
    return out


def _span(trace_id: bytes, s: SpanData) -> Any:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    status = (
        Status(code=Status.STATUS_CODE_ERROR, message=s.error)
        if s.error is not None
        else Status(code=Status.STATUS_CODE_UNSET)
    )
    return Span(
        trace_id=trace_id,
        span_id=s.span_id,
        parent_span_id=s.parent_span_id or b"",
        name=s.name,
        kind=s.kind,  # type: ignore[arg-type]
        start_time_unix_nano=s.start_ns,
        end_time_unix_nano=s.end_ns or s.start_ns,
        attributes=_key_values(s.attributes),
        events=[
            Span.Event(time_unix_nano=ns, name=name, attributes=_key_values(attrs))
            for name, ns, attrs in s.events
        ],
        status=status,
    )


def request_of(traces: Iterable[TraceData]) -> ExportTraceServiceRequest:
    """One ``ExportTraceServiceRequest``: a ``ResourceSpans`` per run (trace)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

    scope = InstrumentationScope(name=SCOPE, version=_version())
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_key_values(t.resource)),
                scope_spans=[
                    ScopeSpans(scope=scope, spans=[_span(t.trace_id, s) for s in t.spans])
                ],
            )
            for t in traces
        ]
    )


def export_runs(store: Store, run_refs: Sequence[str]) -> ExportTraceServiceRequest:
    """Recorded runs (ids or unique prefixes) as one OTLP request, one trace per run."""
    run_ids = [store.resolve_run(ref) for ref in run_refs]  # every reference checked first
    traces = [run_trace(store.run(r), store.expanded_events(r)) for r in run_ids]
    return request_of(traces)


def to_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The request as OTLP JSON (hex ids, numeric enums, lowerCamelCase keys)."""
    from google.protobuf.json_format import MessageToDict

    doc = MessageToDict(request, use_integers_for_enums=True)
    _recode_ids(doc, lambda v: base64.b64decode(v).hex())
    return doc


def from_json(text: str | bytes) -> ExportTraceServiceRequest:
    """An OTLP JSON document (hex ids, as ``to_json`` writes) as the request message."""
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    doc = json.loads(text)

    def to_b64(v: str) -> str:
        try:
            return base64.b64encode(bytes.fromhex(v)).decode()
        except ValueError:
            return v  # already protobuf's base64

    _recode_ids(doc, to_b64)
    return ParseDict(doc, ExportTraceServiceRequest())


def _recode_ids(node: Any, recode: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str) and value:
                node[key] = recode(value)
            else:
                _recode_ids(value, recode)
    elif isinstance(node, list):
        for item in node:
            _recode_ids(item, recode)
