"""What an export says in its own words, read in lgaudit's: errors (a traceback, a
repr, Langfuse's bare message), interrupts, a ``Command`` input, the values LangChain's
tracers wrap, task paths and token usage."""

from __future__ import annotations

import re
from typing import Any

from lgaudit.interop.messages import revive
from lgaudit.interop.source import Call

_ERROR = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)?)(?:\((.*)\)|: (.*))?$"
)


def error_view(text: str) -> dict[str, Any]:
    """An exported error (a traceback, ``ValueError('...')`` or ``ValueError: ...``) in the
    shape lgaudit records errors: ``type``, ``module``, ``message``, ``injected``."""
    import builtins

    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    kind, message = "Exception", text.strip()
    candidates = [ln for ln in lines if not ln.startswith(("File ", "Traceback", "During "))]
    for line in [*reversed(candidates), *lines[:1]]:
        m = _ERROR.match(line)
        if m and (m.group(2) is not None or m.group(3) is not None):
            kind = m.group(1).rsplit(".", 1)[-1]
            raw = m.group(3) if m.group(3) is not None else m.group(2)
            message = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" else raw
            break
    module = "builtins" if isinstance(getattr(builtins, kind, None), type) else ""
    return {"type": kind, "module": module, "message": message, "injected": False}


def path_part(part: Any) -> str:
    """One element of a task path as the recorder writes it (``str`` of LangGraph's value:
    a nested path is a tuple, which JSON made a list)."""

    def tupled(v: Any) -> Any:
        return tuple(tupled(x) for x in v) if isinstance(v, list) else v

    return str(tupled(part))


def graph_value(root: Call, children: dict[str, list[Call]], raw: Any, key: str) -> Any:
    """The input the graph was invoked with (``key`` "input"), or what it returned
    ("output"). LangChain's tracers record a value that is no dict as ``{key: value}``: a
    Functional API entrypoint's list or text (an entrypoint is the graph's first task and
    the input channel ``__start__`` triggers it; in a StateGraph only the ``__start__`` task
    is). A StateGraph takes and returns dicts, recorded as they are."""
    value = revive(raw)
    first = next(iter(children.get(root.id, [])), None)
    md = first.metadata if first is not None else {}
    entrypoint = md.get("langgraph_node") not in (None, "__start__") and list(
        md.get("langgraph_triggers") or []
    ) == ["__start__"]
    if isinstance(value, dict) and set(value) == {key} and entrypoint:
        return value[key]
    return value


_INTERRUPT = re.compile(r"Interrupt\(value=(?P<value>.*?), id='(?P<id>[^']*)'")


def interrupts_of(text: str) -> list[tuple[Any, str]] | None:
    """The interrupts a node stopped at (``GraphInterrupt((Interrupt(value=..., id=...),))``
    as LangChain's tracers record it), or ``None`` for any other error."""
    import ast

    if not text.lstrip().startswith(("GraphInterrupt(", "NodeInterrupt(")):
        return None
    out: list[tuple[Any, str]] = []
    for m in _INTERRUPT.finditer(text.split("Traceback", 1)[0]):
        try:
            value: Any = ast.literal_eval(m.group("value"))
        except (ValueError, SyntaxError):
            value = m.group("value")
        out.append((value, m.group("id")))
    return out


def command_of(value: Any) -> dict[str, Any] | None:
    """A LangGraph ``Command`` the graph was invoked with, as a tracer records it (its
    fields, as a dict, under ``input``: it is no dict), else ``None``."""
    if isinstance(value, dict) and set(value) == {"input"}:
        value = value["input"]
    fields = {"graph", "update", "resume", "goto"}
    return value if isinstance(value, dict) and set(value) == fields else None


def names_type(text: str) -> bool:
    """Whether an exported error names its exception's type (Langfuse keeps the message)."""
    return any(_ERROR.match(line.strip()) for line in text.strip().splitlines()[-1:])


def handled_error(node_output: Any, tool_call_id: str | None) -> dict[str, Any] | None:
    """The error of a tool call as the node that handled it told the model: ToolNode's
    error message (``Error: ValueError('...')``) for that call names the exception's type."""
    if not tool_call_id:
        return None
    found = revive(node_output)
    messages = found.get("messages") if isinstance(found, dict) else found
    for m in messages if isinstance(messages, list) else []:
        content = getattr(m, "content", None)
        if (
            getattr(m, "tool_call_id", None) == tool_call_id
            and getattr(m, "status", None) == "error"
            and isinstance(content, str)
            and content.startswith("Error: ")
        ):
            line = content.removeprefix("Error: ").splitlines()[0]
            return error_view(line) if names_type(line) else None
    return None


def usage_of(answers: list[Any]) -> dict[str, int]:
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    for m in answers:
        usage = getattr(m, "usage_metadata", None) or {}
        for k in totals:
            totals[k] += int(usage.get(k) or 0)
    return totals
