"""Values made comparable: volatile fields dropped, messages compared by what they say.

Message ids are often random (``lc_run--…`` from models, ``uuid4`` from ``add_messages``),
tool-call ids come from the provider, and ``response_metadata`` carries request ids and
timestamps. Two runs that said the same things compare equal; token counts are compared
separately (``usage_metadata`` is lifted out of messages).
"""

from __future__ import annotations

import json
from typing import Any, cast

from lgaudit.store.blobs import to_jsonable

_MESSAGE_VOLATILE = frozenset({"id", "response_metadata", "usage_metadata", "tool_call_id"})


def canonical(value: Any) -> str:
    """A stable text form of a JSON value (dict keys sorted)."""
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value and "content" in value


def as_message(value: Any) -> dict[str, Any] | None:
    """A value written to a messages channel in a form ``add_messages`` accepts (a string,
    a ``(role, content)`` pair, a ``{"role"|"type", "content", ...}`` dict) as the message
    it becomes, in the recorded form; ``None`` if it is not one."""
    if is_message(value) and "additional_kwargs" in value:
        return value  # recorded from a message object: already whole
    from langchain_core.messages import convert_to_messages  # only here: audits start fast

    try:
        (message,) = convert_to_messages([tuple(value) if isinstance(value, list) else value])
    except Exception:  # noqa: BLE001 - not a message in any accepted form
        return None
    return cast(dict[str, Any], to_jsonable(message))


def is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "type" in v and "content" in v for v in value)
    )


def message_view(msg: dict[str, Any]) -> dict[str, Any]:
    """A message without its volatile fields; tool calls by name and arguments."""
    out = {k: v for k, v in msg.items() if k not in _MESSAGE_VOLATILE}
    for key in ("tool_calls", "invalid_tool_calls"):
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in c.items() if k not in ("id", "type")}
                if isinstance(c, dict)
                else c
                for c in out[key]
            ]
    return out


Memo = dict[int, tuple[Any, Any]]
"""``id(value) -> (value, normalized)``: one comparison's normalized views (stored views
are shared by address, see ``lgaudit.codec.decode``: a value is normalized once)."""


def normalize(value: Any, memo: Memo | None = None) -> Any:
    """``value`` with every message reduced to ``message_view``."""
    if memo is not None and isinstance(value, dict | list):
        found = memo.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        out = _normalize(value, memo)
        memo[id(value)] = (value, out)
        return out
    return _normalize(value, memo)


def _normalize(value: Any, memo: Memo | None) -> Any:
    if is_message(value):
        return {k: normalize(v, memo) for k, v in message_view(value).items()}
    if isinstance(value, dict):
        return {k: normalize(v, memo) for k, v in value.items()}
    if isinstance(value, list):
        if memo is None:
            return [normalize(v) for v in value]
        out = []
        for v in value:  # the memo looked up inline: a history's elements are mostly known
            found = memo.get(id(v))
            out.append(found[1] if found is not None and found[0] is v else normalize(v, memo))
        return out
    return value


def keyed_messages(
    a: list[Any], b: list[Any], memo: Memo | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two message lists keyed for comparison: by id where the id occurs on both sides
    (a stable id), else by order among the messages without a shared id."""
    ids_a = {i for m in a if is_message(m) and (i := m.get("id"))}
    ids_b = {i for m in b if is_message(m) and (i := m.get("id"))}
    stable = ids_a & ids_b
    memo = {} if memo is None else memo

    def keyed(msgs: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        position = 0
        for m in msgs:
            found = memo.get(id(m))
            view = found[1] if found is not None and found[0] is m else normalize(m, memo)
            if stable and is_message(m) and m.get("id") in stable:
                out[f"id={m['id']}"] = view
            else:
                out[_POSITIONS[position] if position < len(_POSITIONS) else f"#{position}"] = view
                position += 1
        return out

    return keyed(a), keyed(b)


_POSITIONS = [f"#{i}" for i in range(4096)]


def comparable_pair(a: Any, b: Any, memo: Memo | None = None) -> tuple[Any, Any]:
    """``a`` and ``b`` normalized together (message lists keyed against each other)."""
    if is_message_list(a) and is_message_list(b):
        return keyed_messages(a, b, memo)
    if isinstance(a, dict) and isinstance(b, dict):
        out_a: dict[str, Any] = {}
        out_b: dict[str, Any] = {}
        for k in [*a, *(k for k in b if k not in a)]:  # a's order, then b's (never a set's)
            if k in a and k in b:
                out_a[k], out_b[k] = comparable_pair(a[k], b[k], memo)
            elif k in a:
                out_a[k] = normalize(a[k], memo)
            else:
                out_b[k] = normalize(b[k], memo)
        return out_a, out_b
    return normalize(a, memo), normalize(b, memo)


def summary(value: Any, width: int = 120) -> str:
    """A one-line summary of a value (messages by their content and tool calls)."""
    view = normalize(value)
    if is_message_list(value):
        view = [_brief(m) for m in value]
    elif is_message(value):
        view = _brief(value)
    text = view if isinstance(view, str) else canonical(view)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _brief(msg: dict[str, Any]) -> Any:
    calls = msg.get("tool_calls")
    if calls:
        return {msg["type"]: [{c.get("name"): c.get("args")} for c in calls]}
    return {msg["type"]: msg.get("content")}
