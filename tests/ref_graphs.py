"""Graphs whose import paths runs record (``tests/test_graph_ref.py``): one bound to a module
global, one made by a factory of this module, two factories of graphs of one name."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph


class Count(TypedDict):
    n: int


def _bump(state: Count) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _builder() -> StateGraph:
    builder = StateGraph(Count)
    builder.add_node("bump", _bump)
    builder.add_edge(START, "bump")
    builder.add_edge("bump", END)
    return builder


counter = _builder().compile(name="counter")


def counter_factory() -> Any:
    """A zero-argument factory of a compiled graph."""
    return _builder().compile(name="made_counter")


def twin_a() -> Any:
    """One of two factories of graphs of the same name: which made a graph is not known."""
    return _builder().compile(name="twin")


def twin_b() -> Any:
    return _builder().compile(name="twin")


def make(step: int) -> Any:
    """Not a graph factory: it needs an argument."""
    return _builder().compile(name=f"counter_{step}")
