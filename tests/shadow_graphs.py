"""Graphs the shadow tests record in production and shadow with a candidate."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import START, StateGraph


class Greeting(TypedDict, total=False):
    name: str
    greeting: str


def _greeter(greet: Any) -> Any:
    b = StateGraph(Greeting)
    b.add_node("greet", lambda s: {"greeting": greet(s["name"])})
    b.add_edge(START, "greet")
    return b.compile(name="greeter")


def greeter() -> Any:
    """The version in production."""
    return _greeter(lambda name: f"hello {name}")


def greeter_changed() -> Any:
    """A candidate that greets bob differently: his runs are regressions, no one else's."""
    return _greeter(lambda name: f"hi {name}" if name == "bob" else f"hello {name}")
