"""Langfuse observation exports (JSON or JSONL: the public API's observations, camelCase or
snake_case keys) as ``Call``s: ``type``, ``trace_id``, ``parent_observation_id``,
``input``, ``output``, ``model``, ``model_parameters``, ``usage``/``usage_details``,
``level``/``status_message`` and ``metadata`` (``langgraph_node``, ``langgraph_step``...)."""

from __future__ import annotations

import json
from typing import Any

from lgaudit.errors import BadInputError
from lgaudit.interop.source import Call, micros, records, usage_of

#: Langfuse's observation types; spans, generations and tools become events
TYPES = {
    "SPAN": "chain",
    "AGENT": "chain",
    "CHAIN": "chain",
    "GENERATION": "llm",
    "TOOL": "tool",
    "EVENT": "other",
    "RETRIEVER": "other",
    "EMBEDDING": "other",
    "EVALUATOR": "other",
    "GUARDRAIL": "other",
}


def _get(r: dict[str, Any], snake: str) -> Any:
    if snake in r:
        return r[snake]
    head, *rest = snake.split("_")
    return r.get(head + "".join(w.title() for w in rest))


def read(path: str) -> list[Call]:
    """Every observation of the file; a record that is no observation is refused by line."""
    out: list[Call] = []
    for line, r in records(path):
        where = f"{path}:{line}"
        if not isinstance(r, dict) or "type" not in r or "id" not in r or not _get(r, "trace_id"):
            raise BadInputError(
                f"{where}: not a Langfuse observation (one has id, type, traceId, startTime...)"
            )
        kind = TYPES.get(str(r["type"]).upper())
        if kind is None:
            known = ", ".join(TYPES)
            raise BadInputError(f"{where}: unknown observation type {r['type']!r} (known: {known})")
        metadata = _metadata(r.get("metadata"))
        params = _get(r, "model_parameters")
        start = micros(_get(r, "start_time"), where)
        end_raw = _get(r, "end_time")
        error = None
        if str(r.get("level") or "").upper() == "ERROR":
            error = str(_get(r, "status_message") or "error")
        usage = _get(r, "usage_details") or r.get("usage")
        parent = _get(r, "parent_observation_id")
        out.append(
            Call(
                line=line,
                id=str(r["id"]),
                trace_id=str(_get(r, "trace_id")),
                parent_id=str(parent) if parent else None,
                kind=kind,
                name=str(r.get("name") or r["type"]),
                start_us=start,
                end_us=micros(end_raw, where) if end_raw else None,
                order=f"{start:020d}",
                inputs=_io(r.get("input")),
                outputs=_io(r.get("output")),
                error=error,
                metadata=metadata,
                model=str(r["model"]) if kind == "llm" and r.get("model") else None,
                params=params if isinstance(params, dict) else {},
                usage=usage_of(usage) if kind == "llm" else None,
                tool_call_id=_tool_call_id(r, metadata) if kind == "tool" else None,
            )
        )
    return out


def _io(value: Any) -> Any:
    """An input or output the API returned as JSON text (without ``parse_io_as_json``)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _metadata(value: Any) -> dict[str, Any]:
    """Metadata with LangGraph's keys typed again (OpenTelemetry attributes come back as
    text: ``"3"`` for a step, ``'["__pregel_pull", "agent"]'`` for a path)."""
    found = _io(value)
    if not isinstance(found, dict):
        return {}
    out = dict(found)
    step = out.get("langgraph_step")
    if isinstance(step, str) and step.lstrip("-").isdigit():
        out["langgraph_step"] = int(step)
    for key in ("langgraph_path", "langgraph_triggers"):
        if isinstance(out.get(key), str):
            out[key] = _io(out[key])
    return out


def _tool_call_id(r: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    output = r.get("output")
    for source in (metadata, output if isinstance(output, dict) else {}):
        if isinstance(source.get("tool_call_id"), str):
            return str(source["tool_call_id"])
    return None
