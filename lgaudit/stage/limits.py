"""The suite's tables for staging's other dimensions: ``[tools]``, ``[load]``, ``[pending]``
and the latency and state limits of ``[envelope]``, validated strictly (one
``BadInputError`` line naming the file and the key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lgaudit.errors import BadInputError

TOOLS_KEYS = ("stand_ins", "sandbox", "live")
LOAD_KEYS = ("scenarios", "concurrency", "repeat", "max_p95_slowdown", "max_rss_growth_mb")
PENDING_KEYS = ("environment", "limit", "answer")
ENVELOPE_KEYS = ("max_case_seconds", "max_node_p95_seconds", "max_state_bytes")


@dataclass(frozen=True)
class Tools:
    """``[tools]``: stand-ins by tool name (``module:attr`` of a callable or a ``BaseTool``),
    and with ``sandbox`` every other tool not in ``live`` is refused."""

    stand_ins: dict[str, str] = field(default_factory=dict)
    sandbox: bool = False
    live: tuple[str, ...] = ()


@dataclass(frozen=True)
class Load:
    """``[load]``: the named scenarios run ``concurrency`` at a time, ``repeat`` cases in
    all, held to the slowdown and memory growth limits."""

    scenarios: tuple[str, ...]
    concurrency: int = 4
    repeat: int = 20
    max_p95_slowdown: float | None = None
    max_rss_growth_mb: float | None = None


@dataclass(frozen=True)
class Pending:
    """``[pending]``: interrupted threads of ``environment``, newest first up to ``limit``,
    each resumed on a copy with ``answer`` (a value, or ``module:attr`` of a callable)."""

    environment: str | None = None
    limit: int = 100
    answer: Any = "approve"


@dataclass(frozen=True)
class Latency:
    """``[envelope]``'s limits on time and state size."""

    max_case_seconds: float | None = None
    max_node_p95_seconds: dict[str, float] = field(default_factory=dict)
    max_state_bytes: int | None = None


def _bad(source: str, message: str) -> BadInputError:
    return BadInputError(f"{source}: {message}")


def _only(source: str, table: dict[str, Any], allowed: tuple[str, ...], name: str) -> None:
    for key in table:
        if key not in allowed:
            raise _bad(source, f"unknown key {name}.{key} (expected one of {', '.join(allowed)})")


def _positive(source: str, table: dict[str, Any], key: str, at: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise _bad(source, f"{at}{key} must be a number > 0")
    return float(value)


def _count(source: str, table: dict[str, Any], key: str, at: str, default: int) -> int:
    value = table.get(key, default)
    if type(value) is not int or value < 1:
        raise _bad(source, f"{at}{key} must be an integer >= 1")
    return value


def _names(source: str, table: dict[str, Any], key: str, at: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise _bad(source, f"{at}{key} must be a list of strings")
    return tuple(value)


def case_timeout(source: str, head: dict[str, Any]) -> float | None:
    return _positive(source, head, "case_timeout_s", "suite.")


def tools(source: str, raw: Any) -> Tools:
    if not isinstance(raw, dict):
        raise _bad(source, "[tools] must be a table")
    _only(source, raw, TOOLS_KEYS, "tools")
    stand_ins = raw.get("stand_ins", {})
    if not isinstance(stand_ins, dict) or not all(
        isinstance(v, str) and ":" in v for v in stand_ins.values()
    ):
        raise _bad(source, 'tools.stand_ins must be a table of TOOL = "MODULE:ATTR"')
    sandbox = raw.get("sandbox", False)
    if not isinstance(sandbox, bool):
        raise _bad(source, "tools.sandbox must be true or false")
    return Tools(dict(stand_ins), sandbox, _names(source, raw, "live", "tools."))


def load(source: str, raw: Any, scenario_names: list[str]) -> Load:
    if not isinstance(raw, dict):
        raise _bad(source, "[load] must be a table")
    _only(source, raw, LOAD_KEYS, "load")
    names = _names(source, raw, "scenarios", "load.")
    if not names:
        raise _bad(source, "load.scenarios must name at least one [[scenario]]")
    for name in names:
        if name not in scenario_names:
            raise _bad(source, f"load.scenarios names no [[scenario]] {name!r}")
    growth = raw.get("max_rss_growth_mb")
    if growth is not None and (not isinstance(growth, int | float) or growth < 0):
        raise _bad(source, "load.max_rss_growth_mb must be a number >= 0")
    return Load(
        scenarios=names,
        concurrency=_count(source, raw, "concurrency", "load.", 4),
        repeat=_count(source, raw, "repeat", "load.", 20),
        max_p95_slowdown=_positive(source, raw, "max_p95_slowdown", "load."),
        max_rss_growth_mb=float(growth) if growth is not None else None,
    )


def pending(source: str, raw: Any) -> Pending:
    if not isinstance(raw, dict):
        raise _bad(source, "[pending] must be a table")
    _only(source, raw, PENDING_KEYS, "pending")
    env = raw.get("environment")
    if env is not None and (not isinstance(env, str) or not env):
        raise _bad(source, "pending.environment must be a string")
    return Pending(env, _count(source, raw, "limit", "pending.", 100), raw.get("answer", "approve"))


def latency(source: str, envelope: dict[str, Any]) -> Latency:
    """The time and state limits, taken out of ``envelope`` (what is left is the policy's)."""
    nodes = envelope.pop("max_node_p95_seconds", {})
    if not isinstance(nodes, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in nodes.values()
    ):
        raise _bad(source, "envelope.max_node_p95_seconds must be a table of NODE = seconds > 0")
    state = envelope.pop("max_state_bytes", None)
    if state is not None and (type(state) is not int or state < 1):
        raise _bad(source, "envelope.max_state_bytes must be an integer >= 1")
    case = _positive(source, envelope, "max_case_seconds", "envelope.")
    envelope.pop("max_case_seconds", None)
    return Latency(case, {k: float(v) for k, v in nodes.items()}, state)
