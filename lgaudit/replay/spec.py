"""What a replay is asked to do: cassette mode, model swaps, faults, and loading user code.

Every parser here turns bad input into one ``BadInputError`` line naming what was wrong and
what is valid, before anything runs or is recorded. LangGraph is imported only to load a
graph: the arguments are checked without it.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from lgaudit.errors import BadInputError

if TYPE_CHECKING:
    from langgraph.pregel import Pregel

#: Version of the replay spec stored on replayed runs (``runs.replay``).
REPLAY_SPEC_VERSION = 1


class CassetteMode(str, Enum):  # noqa: UP042 - vcrpy-style (str, Enum)
    """How recorded model and tool results are used.

    ``strict``: recorded results are served; a call that was not recorded fails the run.
    ``lenient``: recorded results are served; calls not recorded go live.
    ``off``: everything is called live.
    """

    STRICT = "strict"
    LENIENT = "lenient"
    OFF = "off"

    @classmethod
    def parse(cls, value: str | CassetteMode) -> CassetteMode:
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise BadInputError(f"unknown cassette mode {value!r}: use one of {valid}") from None


@dataclass(frozen=True)
class FaultSpec:
    """An exception to raise at a node, a model call (``llm:NAME``) or a tool (``tool:NAME``).

    ``attempt`` None raises on every attempt; N raises only on attempt N of that target.
    """

    kind: str  # "node" | "llm" | "tool"
    target: str
    exc_type: type[BaseException]
    message: str
    attempt: int | None
    text: str

    def matches(self, kind: str, name: str | None, attempt: int) -> bool:
        return (
            self.kind == kind
            and (self.target == "*" or self.target == name)
            and (self.attempt is None or self.attempt == attempt)
        )

    def exception(self) -> BaseException:
        try:
            error = self.exc_type(self.message)
        except Exception:  # noqa: BLE001 - exception types with other signatures
            error = self.exc_type()
        error.__lgaudit_injected__ = True  # type: ignore[attr-defined]
        return error


def parse_fault(text: str) -> FaultSpec:
    """``TARGET[:ExcType[:message]][@attempt]``; TARGET a node, ``llm:NAME|*``, ``tool:NAME``."""
    spec = text.strip()
    attempt: int | None = None
    if "@" in spec:
        spec, _, raw = spec.rpartition("@")
        if not raw.isdigit() or int(raw) < 1:
            raise BadInputError(f"malformed --inject {text!r}: @attempt must be a number >= 1")
        attempt = int(raw)
    kind = "node"
    for prefix in ("llm:", "tool:"):
        if spec.startswith(prefix):
            kind, spec = prefix[:-1], spec[len(prefix) :]
    parts = spec.split(":")
    target = parts[0]
    if not target:
        raise BadInputError(
            f"malformed --inject {text!r}: expected TARGET[:ExcType[:message]][@attempt]"
        )
    exc_type: type[BaseException] = RuntimeError
    rest = parts[1:]
    if rest:
        exc_type, used = _resolve_exception(rest, text)
        rest = rest[used:]
    message = ":".join(rest) or f"lgaudit injected {exc_type.__name__} at {kind} {target}"
    return FaultSpec(kind, target, exc_type, message, attempt, text)


def _resolve_exception(parts: list[str], text: str) -> tuple[type[BaseException], int]:
    name = parts[0]
    candidate = getattr(builtins, name, None)
    if isinstance(candidate, type) and issubclass(candidate, BaseException):
        return candidate, 1
    if len(parts) >= 2 and "." not in parts[1]:
        try:
            obj = load_object(f"{name}:{parts[1]}", what="exception")
        except BadInputError:
            obj = None
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return obj, 2
    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            obj = load_object(f"{module}:{attr}", what="exception")
        except BadInputError:
            obj = None
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return obj, 1
    raise BadInputError(
        f"unknown exception type {name!r} in --inject {text!r}: "
        "use a builtin name (TimeoutError) or module:Class"
    )


def parse_swap(text: str) -> tuple[str, str]:
    """``NAME=MODULE:ATTR`` -> (name, module:attr)."""
    name, sep, target = text.partition("=")
    if not sep or not name.strip() or ":" not in target:
        raise BadInputError(f"malformed --swap-model {text!r}: expected NAME=MODULE:ATTR")
    return name.strip(), target.strip()


def parse_patch(patch: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """``--patch``: a non-empty JSON object (or mapping) of state values."""
    if patch is None:
        return None
    if isinstance(patch, str):
        try:
            patch = json.loads(patch)
        except json.JSONDecodeError as e:
            raise BadInputError(f"malformed --patch: not JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(patch, Mapping) or not patch:
        raise BadInputError("malformed --patch: expected a non-empty JSON object of state values")
    return dict(patch)


def find_object(ref: str, *, what: str = "object") -> None:
    """Say what ``load_object`` would of a malformed reference or a module that does not
    exist, without importing the module (a graph's module imports LangGraph): the
    arguments are checked before anything heavy is imported. A module that exists but
    fails to import is left to ``load_object``."""
    module_name = _module_of(ref, what)
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError as e:
        raise BadInputError(f"cannot import module {module_name!r} for {what}: {e}") from e
    except Exception:  # noqa: BLE001 - a parent package failed: load_object says how
        return
    if found is None:
        raise BadInputError(
            f"cannot import module {module_name!r} for {what}: No module named {module_name!r}"
        )


def _module_of(ref: str, what: str) -> str:
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise BadInputError(f"malformed {what} reference {ref!r}: expected MODULE:ATTR")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return module_name


def load_object(ref: str, *, what: str = "object") -> Any:
    """Import ``module:attr`` (the current directory is importable, as for the user's app)."""
    module_name = _module_of(ref, what)
    attr = ref.partition(":")[2]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BadInputError(f"cannot import module {module_name!r} for {what}: {e}") from e
    except Exception as e:  # noqa: BLE001 - the user's module failed while importing
        raise BadInputError(f"importing {module_name!r} failed: {type(e).__name__}: {e}") from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            there = f"; {_graphs_of(module)}" if what == "graph" else ""
            raise BadInputError(f"{module_name} has no attribute {attr!r}{there}")
        obj = getattr(obj, part)
    return obj


def _graphs_of(module: Any) -> str:
    """What ``--graph`` could name in ``module`` (for the message of a wrong one)."""
    from lgaudit.events.graph_ref import module_graphs

    names = module_graphs(module)
    if not names:
        return "it has no compiled graph, StateGraph or graph factory"
    return f"its compiled graphs: {', '.join(names)}"


def load_graph(ref: str) -> Pregel:
    """A compiled graph from ``module:attr``: a compiled graph, a builder, or a factory.
    Runs of it record ``ref`` as their ``graph_ref``."""
    from langgraph.pregel import Pregel

    from lgaudit.events.graph_ref import remember

    obj = load_object(ref, what="graph")
    for _ in range(3):
        if isinstance(obj, Pregel):
            remember(obj, ref)
            return obj
        if callable(getattr(obj, "compile", None)):
            obj = obj.compile()
            continue
        if callable(obj):
            try:
                obj = obj()
            except TypeError as e:
                raise BadInputError(f"{ref} is not a zero-argument graph factory: {e}") from e
            continue
        break
    module = sys.modules[ref.partition(":")[0]]
    raise BadInputError(
        f"{ref} is not a compiled graph, a StateGraph or a factory of either; " + _graphs_of(module)
    )


def load_model(ref: str) -> Any:
    """A LangChain chat model from ``module:attr`` (an instance or a zero-argument factory)."""
    from langchain_core.language_models import BaseChatModel

    obj = load_object(ref, what="model")
    if not isinstance(obj, BaseChatModel) and callable(obj):
        obj = obj()
    if not isinstance(obj, BaseChatModel):
        raise BadInputError(f"{ref} is not a LangChain chat model")
    return obj
