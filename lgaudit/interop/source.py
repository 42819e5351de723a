"""Reading a tracer's export file: JSON (an array, or an object holding one) or JSON lines,
each record with the line it starts on, and the neutral ``Call`` both readers produce.

A file that is not JSON, or is cut short, is ``BadInputError`` naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgaudit.errors import BadInputError

#: keys under which an API response or a bundle holds its records
_LIST_KEYS = ("data", "runs", "observations", "items")


@dataclass
class Call:
    """One LangSmith run or Langfuse observation, as the importer reads it."""

    line: int
    """Line of the file the record starts on (what a refusal names)."""
    id: str
    trace_id: str
    parent_id: str | None
    kind: str
    """``chain``, ``llm``, ``tool`` or ``other`` (a span lgaudit records nothing for)."""
    name: str
    start_us: int
    end_us: int | None
    order: str
    """Sort key among siblings: LangSmith's ``dotted_order``, else the start time."""
    inputs: Any = None
    outputs: Any = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] | None = None
    tool_call_id: str | None = None


def records(path: str) -> Iterator[tuple[int, Any]]:
    """``(line, record)`` of every record in the file, in order."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"cannot read {path}: {e}") from e
    start = len(text) - len(text.lstrip())
    if not text.strip():
        raise BadInputError(f"{path}: empty file, not an export")
    if text[start] == "[":
        yield from _array(path, text, start)
        return
    if text[start] == "{":
        try:
            whole, end = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            whole, end = None, -1
        if whole is not None and not text[end:].strip():
            for key in _LIST_KEYS:
                if isinstance(whole, dict) and isinstance(whole.get(key), list):
                    at = text.find("[", text.find(f'"{key}"', start))
                    yield from _array(path, text, at)
                    return
            yield _line(text, start), whole
            return
    yield from _lines(path, text)


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _array(path: str, text: str, at: int) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    i = at + 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            raise BadInputError(f"{path}:{_line(text, i)}: the JSON array is cut short")
        if text[i] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise BadInputError(f"{path}:{e.lineno}: not JSON ({e.msg}): truncated?") from e
        yield _line(text, i), value
        i = end


def _lines(path: str, text: str) -> Iterator[tuple[int, Any]]:
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            yield n, json.loads(raw)
        except json.JSONDecodeError as e:
            raise BadInputError(
                f"{path}:{n}: not a JSON record ({e.msg}): not an export, or truncated"
            ) from e


def micros(value: Any, where: str) -> int:
    """An ISO 8601 time (``Z`` or an offset; naive is UTC) or epoch number as microseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
        return int(seconds * 1_000_000)
    if not isinstance(value, str) or not value:
        raise BadInputError(f"{where}: no start time")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise BadInputError(f"{where}: {value!r} is not an ISO 8601 time") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def usage_of(raw: Any) -> dict[str, int] | None:
    """Token usage in lgaudit's shape from LangChain's, OpenAI's or Langfuse's names."""
    if not isinstance(raw, dict):
        return None

    def num(*keys: str) -> int:
        for k in keys:
            v = raw.get(k)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return int(v)
        return 0

    i = num("input_tokens", "input", "prompt_tokens", "promptTokens")
    o = num("output_tokens", "output", "completion_tokens", "completionTokens")
    total = num("total_tokens", "total", "totalTokens") or i + o
    return {"input_tokens": i, "output_tokens": o, "total_tokens": total}
