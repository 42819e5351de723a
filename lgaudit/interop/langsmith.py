"""LangSmith run exports (JSON or JSONL of runs, the ``Run`` schema LangSmith receives) as
``Call``s: ``run_type``, ``inputs``, ``outputs``, ``parent_run_id``, ``trace_id``,
``dotted_order``, ``start_time``, ``end_time``, ``error``, ``extra.metadata``
(``langgraph_node``, ``langgraph_step``...) and ``extra.invocation_params``."""

from __future__ import annotations

from typing import Any

from lgaudit.errors import BadInputError
from lgaudit.interop.source import Call, micros, records, usage_of

#: LangSmith's run types; chain, llm and tool become events, the rest are looked through
RUN_TYPES = {
    "chain": "chain",
    "llm": "llm",
    "chat_model": "llm",  # LangChain's tracers before the run is sent (LangSmith says llm)
    "tool": "tool",
    "retriever": "other",
    "embedding": "other",
    "prompt": "other",
    "parser": "other",
}


def read(path: str) -> list[Call]:
    """Every run of the file; a record that is no LangSmith run is refused by line."""
    out: list[Call] = []
    for line, r in records(path):
        where = f"{path}:{line}"
        if not isinstance(r, dict) or "run_type" not in r or "id" not in r:
            raise BadInputError(
                f"{where}: not a LangSmith run (a run has id, run_type, start_time...)"
            )
        kind = RUN_TYPES.get(str(r["run_type"]))
        if kind is None:
            known = ", ".join(RUN_TYPES)
            raise BadInputError(f"{where}: unknown run_type {r['run_type']!r} (known: {known})")
        extra: dict[str, Any] = r["extra"] if isinstance(r.get("extra"), dict) else {}
        metadata: dict[str, Any] = (
            extra["metadata"] if isinstance(extra.get("metadata"), dict) else {}
        )
        params = extra.get("invocation_params")
        params = params if isinstance(params, dict) else {}
        run_id = str(r["id"])
        start = micros(r.get("start_time"), where)
        end = micros(r["end_time"], where) if r.get("end_time") else None
        call = Call(
            line=line,
            id=run_id,
            trace_id=str(r.get("trace_id") or (run_id if not r.get("parent_run_id") else "")),
            parent_id=str(r["parent_run_id"]) if r.get("parent_run_id") else None,
            kind=kind,
            name=str(r.get("name") or r["run_type"]),
            start_us=start,
            end_us=end,
            order=str(r.get("dotted_order") or f"{start:020d}{run_id}"),
            inputs=r.get("inputs"),
            outputs=r.get("outputs"),
            error=str(r["error"]) if r.get("error") else None,
            metadata=metadata,
            params=params,
        )
        if not call.trace_id:
            raise BadInputError(f"{where}: a run with a parent_run_id but no trace_id")
        if kind == "llm":
            call.model = _model(r, params, metadata)
            call.usage = _usage(r.get("outputs"))
        elif kind == "tool":
            call.tool_call_id = _tool_call_id(extra, r.get("outputs"))
        out.append(call)
    return out


def _model(r: dict[str, Any], params: dict[str, Any], metadata: dict[str, Any]) -> str:
    from lgaudit.events.payloads import model_name

    return model_name(r.get("serialized"), params, metadata, r.get("name"))


def _usage(outputs: Any) -> dict[str, int] | None:
    if not isinstance(outputs, dict):
        return None
    for batch in outputs.get("generations") or []:
        for g in batch if isinstance(batch, list) else [batch]:
            message = g.get("message") if isinstance(g, dict) else None
            if isinstance(message, dict):
                body = message.get("kwargs") if message.get("lc") == 1 else message
                found = usage_of((body or {}).get("usage_metadata"))
                if found:
                    return found
    llm_output = outputs.get("llm_output")
    if isinstance(llm_output, dict):
        return usage_of(llm_output.get("token_usage") or llm_output.get("usage"))
    return None


def _tool_call_id(extra: dict[str, Any], outputs: Any) -> str | None:
    if isinstance(extra.get("tool_call_id"), str):
        return str(extra["tool_call_id"])
    out = outputs.get("output") if isinstance(outputs, dict) else None
    if isinstance(out, dict):
        body = out.get("kwargs") if out.get("lc") == 1 else out
        if isinstance(body, dict) and isinstance(body.get("tool_call_id"), str):
            return str(body["tool_call_id"])
    return None
