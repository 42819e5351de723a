"""What callback events say, read from LangChain's callback arguments: the task a call
belongs to, an error's view, a model's name, its token usage and who served it."""

from __future__ import annotations

import dataclasses
from typing import Any


def task_context(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Thread, graph namespace, step, node and task id from LangGraph's callback metadata."""
    md = metadata or {}
    ns = md.get("langgraph_checkpoint_ns") or ""
    parts = ns.split("|") if ns else []
    task_id = parts[-1].rsplit(":", 1)[1] if parts and ":" in parts[-1] else None
    step = md.get("langgraph_step")
    return {
        "thread_id": str(md["thread_id"]) if md.get("thread_id") is not None else None,
        "checkpoint_ns": "|".join(parts[:-1]),
        "step": step if isinstance(step, int) else None,
        "node": md.get("langgraph_node"),
        "task_id": task_id,
    }


def error_view(error: BaseException) -> dict[str, Any]:
    return {
        "type": type(error).__name__,
        "module": type(error).__module__,
        "message": str(error),
        "injected": bool(getattr(error, "__lgaudit_injected__", False)),
    }


def model_name(serialized: Any, params: dict[str, Any], metadata: Any, name: Any) -> str:
    """The provider's model name, else the model's class name."""
    for key in ("model", "model_name", "model_id", "deployment_name"):
        if isinstance(params.get(key), str) and params[key]:
            return str(params[key])
    if metadata and isinstance(metadata.get("ls_model_name"), str):
        return str(metadata["ls_model_name"])
    ident = (serialized or {}).get("id")
    if isinstance(ident, list) and ident:
        return str(ident[-1])
    return str(name or params.get("_type") or "unknown")


def served_by(response: Any) -> str | None:
    """``cassette`` or ``swap:…`` when a replay answered instead of the recorded model."""
    for batch in response.generations:
        for g in batch:
            tag = (getattr(g, "generation_info", None) or {}).get("lgaudit_served_by")
            if tag:
                return str(tag)
    return None


def token_usage(response: Any) -> dict[str, int]:
    """Token usage of an LLM result: message ``usage_metadata``, else ``llm_output``."""
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    found = False
    for batch in response.generations:
        for g in batch:
            usage = getattr(getattr(g, "message", None), "usage_metadata", None)
            if usage:
                found = True
                for k in totals:
                    totals[k] += int(usage.get(k) or 0)
    if not found:
        raw = (response.llm_output or {}).get("token_usage") or {}
        totals["input_tokens"] = int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
        totals["output_tokens"] = int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
        totals["total_tokens"] = int(
            raw.get("total_tokens") or totals["input_tokens"] + totals["output_tokens"]
        )
    if not totals["total_tokens"]:
        totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
    return totals


def state_fields(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass or pydantic state (each one a channel), else ``None``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    model_fields = getattr(type(value), "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(value, "model_dump"):
        return {name: getattr(value, name) for name in model_fields}
    return None
