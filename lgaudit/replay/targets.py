"""What a replay's faults, swaps and patch name must exist: a typo is bad input, not a
replay that silently injects nothing and passes.

Names are checked against the graph being replayed and the run being replayed together:
a node of the graph (subgraphs used as nodes included) or one the run recorded; a tool of
the graph's ``ToolNode``s or one the run called; a model the run called (or a substitute
given with ``--swap-model``); a state key of the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.pregel import Pregel

from lgaudit.errors import BadInputError
from lgaudit.events.payloads import model_name
from lgaudit.replay.spec import FaultSpec
from lgaudit.store.records import EventRecord
from lgaudit.store.views import is_internal_channel


def check_targets(
    graph: Pregel,
    events: list[EventRecord],
    faults: list[FaultSpec],
    swaps: Mapping[str, BaseChatModel],
    patch: Mapping[str, Any] | None,
) -> None:
    """Raise ``BadInputError`` for the first fault, swap or patch key that names nothing."""
    models = {str(e["payload"].get("model")) for e in events if e["kind"] == "llm_start"}
    for name, fault in [(s.target, s) for s in faults]:
        if name == "*":
            continue
        if fault.kind == "node":
            known = _graph_nodes(graph) | {str(e["node"]) for e in events if e["node"]}
        elif fault.kind == "tool":
            known = _graph_tools(graph) | {
                str(e["payload"].get("tool")) for e in events if e["kind"] == "tool_start"
            }
        else:
            known = models | {substitute_name(m) for m in swaps.values()}
        if name not in known:
            raise BadInputError(
                f"--inject {fault.text!r}: no {fault.kind} named {name!r} "
                f"({_listing(fault.kind, known)})"
            )
    for name in swaps:
        if name != "*" and name not in models:
            raise BadInputError(
                f"--swap-model {name!r}: the run called no model of that name "
                f"({_listing('model', models)})"
            )
    if patch is not None:
        keys = {k for k in graph.channels if not is_internal_channel(k)}
        unknown = sorted(set(patch) - keys)
        if unknown:
            raise BadInputError(
                f"--patch: {', '.join(map(repr, unknown))} is not a state key of the graph "
                f"({_listing('state key', keys)})"
            )


def substitute_name(model: BaseChatModel) -> str:
    """The name a substitute model is recorded under (as the recorder names models)."""
    try:
        params, metadata = model._get_invocation_params(), dict(model._get_ls_params())
    except Exception:  # noqa: BLE001 - a model that cannot describe itself without a call
        params, metadata = {}, {}
    return model_name(None, params, metadata, type(model).__name__)


def _listing(kind: str, names: Iterable[str]) -> str:
    known = sorted(n for n in names if n and not n.startswith("__"))
    if not known:
        return f"it has no {kind}s"
    shown = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
    return f"{kind}s: {shown}"


def _graphs(graph: Pregel) -> list[Pregel]:
    try:
        subgraphs = [sub for _ns, sub in graph.get_subgraphs(recurse=True)]
    except Exception:  # noqa: BLE001 - a graph LangGraph cannot walk: its own nodes only
        return [graph]
    return [graph, *(sub for sub in subgraphs if isinstance(sub, Pregel))]


def _graph_nodes(graph: Pregel) -> set[str]:
    return {name for g in _graphs(graph) for name in g.nodes}


def _graph_tools(graph: Pregel) -> set[str]:
    names: set[str] = set()
    for g in _graphs(graph):
        for node in g.nodes.values():
            tools = getattr(getattr(node, "bound", None), "tools_by_name", None)
            if isinstance(tools, Mapping):
                names.update(str(n) for n in tools)
    return names
