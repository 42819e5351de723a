"""Recorded values as the pages show them: text, one-line summaries, the change between two
states, and the changed parts of two texts. Plain data out: the templates escape it."""

from __future__ import annotations

import json
from difflib import SequenceMatcher
from typing import Any
from urllib.parse import urlencode

#: characters of a value shown before it is cut (the API has it whole)
TEXT_LIMIT = 4000
#: above this many characters, two texts are compared by line, not by character
CHAR_DIFF_LIMIT = 5000
_MISSING = object()


def text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A value as text: strings as they are, anything else as indented JSON (a chat
    message without its empty fields), cut at ``limit`` characters with how many more
    there were."""
    out = value if isinstance(value, str) else _json(_compact(value))
    if len(out) > limit:
        return f"{out[:limit]}… ({len(out) - limit} more characters)"
    return out


def _compact(value: Any) -> Any:
    """Chat messages without their empty fields (``additional_kwargs: {}``...)."""
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        if "content" in value and "type" in value:
            return {k: _compact(v) for k, v in value.items() if v not in (None, {}, [], "")}
        return {k: _compact(v) for k, v in value.items()}
    return value


def short(value: Any, width: int = 80) -> str:
    """A value on one line, cut to ``width``."""
    out = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    out = " ".join(out.split())
    return out if len(out) <= width else out[: width - 1] + "…"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def message_lines(messages: Any) -> list[tuple[str, str]]:
    """Recorded chat messages as ``(role, text)``; tool calls shown as ``name(args)``."""
    if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], list):
        messages = messages[0]  # a chat model's input: one list per prompt
    if not isinstance(messages, list):
        return [("", text(messages))]
    out: list[tuple[str, str]] = []
    for m in messages:
        if isinstance(m, dict) and "content" in m:
            body = m.get("content")
            body_text = body if isinstance(body, str) else text(body)
            for call in m.get("tool_calls") or []:
                if isinstance(call, dict):
                    body_text += f"\n→ {call.get('name')}({short(call.get('args'), 200)})"
            out.append((str(m.get("type") or m.get("role") or ""), text(body_text)))
        else:
            out.append(("", text(m)))
    return out


def highlight(a: Any, b: Any) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Both values as text in segments ``(text, changed)``: two strings compared by
    character (by line when long), two structures by line of their JSON; anything else
    (a number, a flag, a value on one side only) marked whole."""
    ta, tb = text(a, CHAR_DIFF_LIMIT * 4), text(b, CHAR_DIFF_LIMIT * 4)
    if isinstance(a, str) and isinstance(b, str) and max(len(ta), len(tb)) <= CHAR_DIFF_LIMIT:
        return _segments(list(ta), list(tb))
    structures = (dict, list)
    if (
        isinstance(a, str | dict | list)
        and isinstance(b, str | dict | list)
        and (isinstance(a, structures) == isinstance(b, structures))
    ):
        return _segments(ta.splitlines(keepends=True), tb.splitlines(keepends=True))
    return [(ta, True)], [(tb, True)]


def _segments(a: list[str], b: list[str]) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    out_a: list[tuple[str, bool]] = []
    out_b: list[tuple[str, bool]] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        same = op == "equal"
        if i2 > i1:
            _add(out_a, "".join(a[i1:i2]), not same)
        if j2 > j1:
            _add(out_b, "".join(b[j1:j2]), not same)
    return out_a, out_b


def _add(out: list[tuple[str, bool]], piece: str, changed: bool) -> None:
    if out and out[-1][1] == changed:
        out[-1] = (out[-1][0] + piece, changed)
    else:
        out.append((piece, changed))


def state_changes(before: Any, after: Any, path: str = "", depth: int = 0) -> list[dict[str, Any]]:
    """What changed from ``before`` to ``after``: ``{"path", "op", "before", "after"}`` with
    ``op`` one of ``added``, ``removed``, ``changed``, ``appended`` (a list that grew at its
    end shows only the new items). Cheap: a step's page computes one per step."""
    if before is _MISSING:
        return [{"path": path, "op": "added", "before": None, "after": after}]
    if after is _MISSING:
        return [{"path": path, "op": "removed", "before": before, "after": None}]
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict) and depth < 4:
        out: list[dict[str, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}" if path else str(key)
            out += state_changes(before.get(key, _MISSING), after.get(key, _MISSING), sub,
                                 depth + 1)  # fmt: skip
        return out
    if isinstance(before, list) and isinstance(after, list):
        n = len(before)
        if len(after) > n and after[:n] == before:
            return [{"path": f"{path}[{n}:]", "op": "appended", "before": None,
                     "after": after[n:]}]  # fmt: skip
    return [{"path": path, "op": "changed", "before": before, "after": after}]


def initial_state(after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The first step's state as changes from nothing."""
    return state_changes({}, after or {})


def merge_query(query: dict[str, Any], **changes: Any) -> str:
    """A query string: ``query`` with ``changes`` (``None`` removes a key)."""
    merged = {**query, **changes}
    return urlencode({k: v for k, v in merged.items() if v is not None}, doseq=True)


FILTERS = {
    "text": text,
    "short": short,
    "messages": message_lines,
    "highlight": highlight,
    "merge_query": merge_query,
}
