"""Graphs written the way LangGraph's docs write them, importable as ``shape_graphs:NAME``
(replay loads the graph by reference). Every node is deterministic, so a faithful replay or
re-execution of one is identical to its original."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import NotRequired, TypedDict


class JokeState(TypedDict):
    topic: NotRequired[str]
    joke: NotRequired[str]


def generate_topic(state: JokeState) -> dict[str, Any]:
    return {"topic": "ice cream"}


def write_joke(state: JokeState) -> dict[str, Any]:
    return {"joke": f"Why did the {state['topic']} cross the road?"}


def joke_graph() -> Any:
    """The graph of LangGraph's time-travel how-to: generate_topic -> write_joke."""
    builder = StateGraph(JokeState)
    builder.add_node(generate_topic)
    builder.add_node(write_joke)
    builder.add_edge(START, "generate_topic")
    builder.add_edge("generate_topic", "write_joke")
    builder.add_edge("write_joke", END)
    return builder.compile(name="jokes")
