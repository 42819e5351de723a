"""Graphs written the way LangGraph's docs write them, importable as ``shape_graphs:NAME``
(replay loads the graph by reference). Every node is deterministic, so a faithful replay or
re-execution of one is identical to its original."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, NotRequired, TypedDict

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, interrupt

#: live calls of the functional graphs' tasks (a strict replay makes none)
CALLS: Counter[str] = Counter()


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


# -- the Functional API ------------------------------------------------------------------


def essay_workflow(skip_review: bool = False) -> Any:
    """An ``@entrypoint`` with its own checkpointer and three ``@task``s: a model writes the
    essay, a human reviews it (``interrupt``), and only an approved essay is published
    (``skip_review``: the bug of publishing unreviewed)."""
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("Cats sleep a lot.")]))

    @task
    def write_essay(topic: str) -> str:
        CALLS["write_essay"] += 1
        return str(model.invoke(f"Write an essay about {topic}").content)

    @task
    def review(essay: str) -> dict[str, Any]:
        answer = interrupt({"question": "publish this essay?", "essay": essay})
        return {"approved": answer == "approve"}

    @task
    def publish(essay: str) -> str:
        CALLS["publish"] += 1
        return f"published: {essay}"

    @entrypoint(checkpointer=InMemorySaver())
    def essay_flow(topic: str) -> dict[str, Any]:
        essay = write_essay(topic).result()
        verdict = {"approved": True} if skip_review else review(essay).result()
        published = publish(essay).result() if verdict["approved"] else None
        return {"essay": essay, "approved": verdict["approved"], "published": published}

    return essay_flow


FLAKY = {"calls": 0}


def retrying_workflow() -> Any:
    """A ``@task`` with a retry policy that fails on its first call."""

    @task(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, retry_on=TimeoutError))
    def fetch(city: str) -> str:
        FLAKY["calls"] += 1
        if FLAKY["calls"] == 1:
            raise TimeoutError(f"upstream slow for {city}")
        return f"sunny in {city}"

    @task
    def shout(text: str) -> str:
        if text == "boom":
            raise ValueError("cannot shout boom")
        return text.upper()

    @entrypoint(checkpointer=InMemorySaver())
    def weather(city: str) -> str:
        return shout(fetch(city).result() if city != "boom" else "boom").result()

    return weather
