"""Exported values made LangChain objects again: messages in LangChain's serialized form
(``{"lc": 1, "type": "constructor", "id": [..., "AIMessage"], "kwargs": {...}}``), as
message dicts (``{"type": "ai", "content": ...}``) or OpenAI-style role dicts
(``{"role": "assistant", ...}``), wherever they are in a value. Nothing else is built from
the data: no class is looked up by a name the file gives but these message classes."""

from __future__ import annotations

from typing import Any

_CLASS_TYPES = {
    "HumanMessage": "human",
    "HumanMessageChunk": "human",
    "AIMessage": "ai",
    "AIMessageChunk": "ai",
    "SystemMessage": "system",
    "SystemMessageChunk": "system",
    "ToolMessage": "tool",
    "ToolMessageChunk": "tool",
    "FunctionMessage": "function",
    "ChatMessage": "chat",
}
_TYPES = {"human", "ai", "system", "tool", "function", "chat"}
_ROLES = {"user", "assistant", "system", "tool", "developer", "human", "ai"}


def revive(value: Any) -> Any:
    """``value`` with every message in it a ``BaseMessage``."""
    if isinstance(value, list):
        return [revive(v) for v in value]
    if not isinstance(value, dict):
        return value
    message = as_message(value)
    if message is not None:
        return message
    return {k: revive(v) for k, v in value.items()}


def as_message(d: dict[str, Any]) -> Any:
    """The message a dict stands for, or ``None``."""
    from langchain_core.messages import convert_to_messages, messages_from_dict

    if d.get("lc") == 1 and d.get("type") == "constructor" and isinstance(d.get("id"), list):
        kind = _CLASS_TYPES.get(str(d["id"][-1]))
        kwargs = d.get("kwargs")
        if kind is None or not isinstance(kwargs, dict):
            return None
        data = {k: v for k, v in kwargs.items() if k != "type"}
        data.setdefault("content", "")
        try:
            return messages_from_dict([{"type": kind, "data": data}])[0]
        except Exception:  # noqa: BLE001 - a malformed message: left as data
            return None
    if d.get("type") in _TYPES and "content" in d:
        data = {k: v for k, v in d.items() if k != "type"}
        try:
            return messages_from_dict([{"type": d["type"], "data": data}])[0]
        except Exception:  # noqa: BLE001 - not a message after all: left as data
            return None
    if d.get("role") in _ROLES and "content" in d:
        try:
            return convert_to_messages([d])[0]
        except Exception:  # noqa: BLE001
            return None
    return None


def chat_messages(inputs: Any) -> list[Any] | None:
    """The messages a model call was given: LangSmith's ``{"messages": [[...]]}``, or a
    list of messages (Langfuse); ``None`` for a text prompt."""
    found = inputs.get("messages") if isinstance(inputs, dict) else inputs
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], list):
        found = found[0]
    if isinstance(found, dict):
        found = [found]
    if not isinstance(found, list):
        return None
    revived = [revive(m) for m in found]
    from langchain_core.messages import BaseMessage

    return revived if all(isinstance(m, BaseMessage) for m in revived) else None


def generations(outputs: Any) -> list[Any] | None:
    """The messages a model call answered: LangSmith's LLM result (``generations``), or a
    message (Langfuse's ``output``)."""
    from langchain_core.messages import AIMessage, BaseMessage

    if isinstance(outputs, dict) and isinstance(outputs.get("generations"), list):
        out = []
        for batch in outputs["generations"]:
            for g in batch if isinstance(batch, list) else [batch]:
                if not isinstance(g, dict):
                    continue
                m = revive(g.get("message")) if g.get("message") is not None else None
                out.append(m if isinstance(m, BaseMessage) else AIMessage(str(g.get("text", ""))))
        return out
    if isinstance(outputs, str):
        return [AIMessage(outputs)]
    m = revive(outputs)
    if isinstance(m, BaseMessage):
        return [m]
    if isinstance(m, list) and m and all(isinstance(x, BaseMessage) for x in m):
        return m
    return None
