"""Where a compiled graph is imported from: the ``module:attr`` that ``lgaudit replay
--graph`` takes, recorded in each run's ``run_start`` as ``graph_ref``.

``graph_ref(graph)`` finds it once per graph object (cached, weakly): the reference the
graph was loaded by (``remember``: replay, stage and shadow load ``--graph`` through
``lgaudit.replay.spec.load_graph``), else a global of the modules the graph's nodes and
state come from that is bound to the graph (or to the graph ``attach`` was given: they share
their nodes), else the one graph factory there that names the graph. A graph defined in
``__main__`` or built where no module holds it has none.

``module_graphs(module)`` lists what ``--graph`` accepts in a module, for the message of a
wrong ``--graph``.

``graph_shape(graph)`` is the compiled graph's structure as ``get_graph()`` draws it
(``{"nodes": [id...], "edges": [[source, target, conditional]...]}``), recorded in
``run_start`` as ``graph_shape`` so a run recorded by another process can be drawn
(``lgaudit ui``); found once per graph object, like its reference.
"""

from __future__ import annotations

import sys
import threading
import types
import weakref
from collections.abc import Iterator
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

_lock = threading.Lock()
#: graph -> its reference, found or remembered (``None``: looked for, not found)
_refs: weakref.WeakKeyDictionary[Pregel, str | None] = weakref.WeakKeyDictionary()
#: the nodes of graphs loaded by reference: ``attach``'s copies of a graph (which outlive it)
#: share its node objects
_loaded: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
#: graph -> its nodes and edges (``None``: it could not be drawn)
_shapes: weakref.WeakKeyDictionary[Pregel, dict[str, Any] | None] = weakref.WeakKeyDictionary()
_FOREIGN = ("langgraph", "langchain", "pydantic", "typing", "builtins", "__main__")


def remember(graph: Pregel, ref: str) -> None:
    """Note that ``graph`` was imported as ``ref`` (``module:attr``)."""
    with _lock:
        for node in graph.nodes.values():
            _loaded[node] = ref
        _refs[graph] = ref


def graph_ref(graph: Any) -> str | None:
    """``module:attr`` the graph can be imported by, or ``None`` when it cannot be found."""
    if not isinstance(graph, Pregel):
        return None
    with _lock:
        if graph in _refs:
            return _refs[graph]
        loaded = {_loaded.get(node) for node in graph.nodes.values()}
    if len(loaded) == 1 and None not in loaded:
        ref = loaded.pop()
    else:
        try:
            ref = _find(graph)
        except Exception:  # noqa: BLE001 - user modules may be odd; a run never fails here
            ref = None
    with _lock:
        _refs[graph] = ref
    return ref


def graph_shape(graph: Any) -> dict[str, Any] | None:
    """The graph's nodes and edges (``get_graph()``), or ``None`` when it cannot be drawn."""
    if not isinstance(graph, Pregel):
        return None
    with _lock:
        if graph in _shapes:
            return _shapes[graph]
    try:
        drawable = graph.get_graph()
        shape: dict[str, Any] | None = {
            "nodes": [str(node_id) for node_id in drawable.nodes],
            "edges": [[e.source, e.target, bool(e.conditional)] for e in drawable.edges],
        }
    except Exception:  # noqa: BLE001 - a graph that cannot be drawn still runs
        shape = None
    with _lock:
        _shapes[graph] = shape
    return shape


def module_graphs(module: types.ModuleType) -> list[str]:
    """The names in ``module`` that ``--graph`` accepts: compiled graphs, ``StateGraph``
    builders, and zero-argument functions of the module that compile a graph."""
    return sorted(name for name, value in vars(module).items() if _is_graph_source(module, value))


def _is_graph_source(module: types.ModuleType, value: Any) -> bool:
    if isinstance(value, (Pregel, StateGraph)):
        return True
    return _factory(module, value) is not None


def _factory(module: types.ModuleType, value: Any) -> types.CodeType | None:
    """The code of a zero-argument function defined in ``module`` that compiles a graph."""
    if not isinstance(value, types.FunctionType) or value.__module__ != module.__name__:
        return None
    code = value.__code__
    required = code.co_argcount - len(value.__defaults__ or ())
    kw_required = code.co_kwonlyargcount - len(value.__kwdefaults__ or {})
    if required > 0 or kw_required > 0 or "compile" not in code.co_names:
        return None
    return code


def _same_graph(a: Pregel, b: Pregel) -> bool:
    """``b`` is ``a`` or a copy of it (``attach``, ``with_config``): the same node objects."""
    if a is b:
        return True
    mine, theirs = a.nodes, b.nodes
    return bool(mine) and mine.keys() == theirs.keys() and all(mine[k] is theirs[k] for k in mine)


def _find(graph: Pregel) -> str | None:
    modules = list(_home_modules(graph))
    for module in modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, Pregel) and _same_graph(value, graph):
                return f"{module.__name__}:{name}"
    # a factory: the one function of these modules whose code names the graph
    name = graph.get_name()
    found = [
        f"{module.__name__}:{attr}"
        for module in modules
        for attr, value in list(vars(module).items())
        if (code := _factory(module, value)) is not None and name in code.co_consts
    ]
    return found[0] if len(found) == 1 else None


def _home_modules(graph: Pregel) -> Iterator[types.ModuleType]:
    """The user modules the graph's node functions and state schema are defined in, in the
    order first met."""
    names: list[str] = []
    builder = getattr(graph, "builder", None)
    for schema in (getattr(builder, "state_schema", None),):
        names.append(getattr(schema, "__module__", "") or "")
    for node in graph.nodes.values():
        bound = getattr(node, "bound", None)
        func = getattr(bound, "func", None) or getattr(bound, "afunc", None)
        names.append(getattr(func, "__module__", "") or "")
    seen: set[str] = set()
    for name in names:
        if not name or name in seen or name.split(".")[0] in _FOREIGN:
            continue
        seen.add(name)
        module = sys.modules.get(name)
        if module is not None:
            yield module
