"""Graphs written the way LangGraph's docs write them, importable as ``shape_graphs:NAME``
(replay loads the graph by reference). Every node is deterministic, so a faithful replay or
re-execution of one is identical to its original."""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, RetryPolicy, Send, interrupt
from pydantic import BaseModel

#: live calls of the nodes that count them (a strict replay makes none)
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
        return str(model.invoke(f"Write an essay about {topic}").content)

    @task
    def review(essay: str) -> dict[str, Any]:
        answer = interrupt({"question": "publish this essay?", "essay": essay})
        return {"approved": answer == "approve"}

    @task
    def publish(essay: str) -> str:
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


# -- graph shapes of LangGraph's docs, with deterministic nodes ----------------------------


def _chat_model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage("Happy to help.")]))


def chat_graph() -> Any:
    """A ``MessagesState`` chatbot: one node calling a chat model."""
    model = _chat_model()
    builder = StateGraph(MessagesState)
    builder.add_node("chatbot", lambda s: {"messages": [model.invoke(s["messages"])]})
    builder.add_edge(START, "chatbot")
    return builder.compile(name="chatbot")


class Team(MessagesState):
    done: list[str]


def supervisor_graph() -> Any:
    """A supervisor routing with ``Command(goto=...)`` to two workers until both reported."""

    def supervisor(state: Team) -> Command[Any]:
        done = state.get("done") or []
        todo = [w for w in ("researcher", "writer") if w not in done]
        return Command(goto=todo[0] if todo else END)

    def worker(name: str) -> Any:
        def run(state: Team) -> Command[Any]:
            report = AIMessage(f"{name} reporting", name=name)
            done = [*(state.get("done") or []), name]
            return Command(goto="supervisor", update={"messages": [report], "done": done})

        return run

    builder = StateGraph(Team)
    builder.add_node("supervisor", supervisor, destinations=("researcher", "writer", END))
    builder.add_node("researcher", worker("researcher"), destinations=("supervisor",))
    builder.add_node("writer", worker("writer"), destinations=("supervisor",))
    builder.add_edge(START, "supervisor")
    return builder.compile(name="supervisor")


class Overall(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]
    best: NotRequired[str]


def map_reduce_graph() -> Any:
    """LangGraph's map-reduce how-to: ``Send`` one task per subject, then reduce."""
    builder = StateGraph(Overall)
    builder.add_node("joke", lambda s: {"jokes": [f"a joke about {s['subject']}"]})
    builder.add_node("best", lambda s: {"best": sorted(s["jokes"])[0]})
    builder.add_conditional_edges(
        START, lambda s: [Send("joke", {"subject": x}) for x in s["subjects"]], ["joke"]
    )
    builder.add_edge("joke", "best")
    return builder.compile(name="map_reduce")


class Counter2(BaseModel):
    count: int = 0
    log: list[str] = []


@dataclass
class Counter3:
    count: int = 0
    log: list[str] = field(default_factory=list)


def _typed_graph(schema: type, name: str) -> Any:
    def inc(state: Any) -> dict[str, Any]:
        return {"count": state.count + 1, "log": [*state.log, f"inc{state.count}"]}

    builder = StateGraph(schema)
    builder.add_node("inc", inc)
    builder.add_node("again", inc)
    builder.add_edge(START, "inc")
    builder.add_edge("inc", "again")
    return builder.compile(name=name)


def pydantic_graph() -> Any:
    return _typed_graph(Counter2, "pydantic_counter")


def dataclass_graph() -> Any:
    return _typed_graph(Counter3, "dataclass_counter")


class Inner(TypedDict):
    text: str
    words: int


class Outer(TypedDict):
    question: str
    answer: NotRequired[str]


def own_schema_subgraph_graph() -> Any:
    """A subgraph with its own state schema, invoked from a node that maps the states."""
    sub = StateGraph(Inner)
    sub.add_node("count", lambda s: {"words": len(s["text"].split())})
    sub.add_node("shout", lambda s: {"text": s["text"].upper()})
    sub.add_edge(START, "count")
    sub.add_edge("count", "shout")
    inner = sub.compile()

    def ask(state: Outer) -> dict[str, Any]:
        out = inner.invoke({"text": state["question"], "words": 0})
        return {"answer": f"{out['text']} ({out['words']} words)"}

    builder = StateGraph(Outer)
    builder.add_node("ask", ask)
    builder.add_node("finish", lambda s: {"answer": s["answer"] + "!"})
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "finish")
    return builder.compile(name="own_schema")


def async_chat_graph() -> Any:
    """The chatbot with async nodes (run with ``ainvoke``/``astream``)."""
    model = _chat_model()

    async def think(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def polish(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(state["messages"][-1].content + " Anything else?")]}

    builder = StateGraph(MessagesState)
    builder.add_node("think", think)
    builder.add_node("polish", polish)
    builder.add_edge(START, "think")
    builder.add_edge("think", "polish")
    return builder.compile(name="async_chat")


class Draft(TypedDict):
    request: str
    draft: NotRequired[str]
    approved: NotRequired[bool]
    sent: NotRequired[str]


def review_graph() -> Any:
    """draft -> human_review (``interrupt``) -> send, only when the human approved."""

    def human_review(state: Draft) -> dict[str, Any]:
        return {"approved": interrupt({"draft": state["draft"]}) == "approve"}

    builder = StateGraph(Draft)
    builder.add_node("draft", lambda s: {"draft": f"Dear customer, re: {s['request']}"})
    builder.add_node("human_review", human_review)
    builder.add_node("send", lambda s: {"sent": s["draft"]})
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "human_review")
    builder.add_conditional_edges("human_review", lambda s: "send" if s["approved"] else END)
    builder.add_edge("send", END)
    return builder.compile(name="review")


class Trip(TypedDict):
    city: str
    forecast: NotRequired[str]
    approved: NotRequired[bool]
    booked: NotRequired[str]


def parallel_review_graph() -> Any:
    """Two branches of one step: a model forecasts while a human approves (``interrupt``);
    a resume re-runs only the human's branch, the forecast's writes are kept."""
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("Sunny all week.")]))

    def forecast(state: Trip) -> dict[str, Any]:
        CALLS["forecast"] += 1
        return {"forecast": str(model.invoke(f"Weather in {state['city']}?").content)}

    def approve(state: Trip) -> dict[str, Any]:
        return {"approved": interrupt({"trip": state["city"]}) == "approve"}

    builder = StateGraph(Trip)
    builder.add_node("forecast", forecast)
    builder.add_node("approve", approve)
    builder.add_node("book", lambda s: {"booked": f"{s['city']}: {s['forecast']}"})
    builder.add_edge(START, "forecast")
    builder.add_edge(START, "approve")
    builder.add_edge(["forecast", "approve"], "book")
    return builder.compile(name="trip")


class Shared(TypedDict):
    topic: str
    summary: NotRequired[str]


class Private(TypedDict):
    topic: str
    notes: list[str]
    summary: NotRequired[str]


def shared_key_subgraph_graph() -> Any:
    """A subgraph added as a node whose schema shares only some keys with its parent's."""
    sub = StateGraph(Private)
    sub.add_node("research", lambda s: {"notes": [f"{s['topic']} fact {i}" for i in (1, 2)]})
    sub.add_node("summarize", lambda s: {"summary": "; ".join(s["notes"])})
    sub.add_edge(START, "research")
    sub.add_edge("research", "summarize")
    builder = StateGraph(Shared)
    builder.add_node("researcher", sub.compile())
    builder.add_node("publish", lambda s: {"summary": s["summary"].upper()})
    builder.add_edge(START, "researcher")
    builder.add_edge("researcher", "publish")
    return builder.compile(name="shared_keys")


def handoff_graph() -> Any:
    """An agent inside a subgraph hands off to its parent's other agent with
    ``Command(goto=..., graph=Command.PARENT)``."""

    def triage(state: MessagesState) -> Command[Any]:
        return Command(
            goto="billing",
            update={"messages": [AIMessage("handing off to billing", name="triage")]},
            graph=Command.PARENT,
        )

    inner = StateGraph(MessagesState)
    inner.add_node("triage", triage)
    inner.add_edge(START, "triage")
    builder = StateGraph(MessagesState)
    builder.add_node("frontdesk", inner.compile(), destinations=("billing",))
    builder.add_node("billing", lambda s: {"messages": [AIMessage("refund issued")]})
    builder.add_edge(START, "frontdesk")
    return builder.compile(name="handoff")


def async_essay_workflow() -> Any:
    """The essay workflow with async tasks and entrypoint (run with ``ainvoke``)."""
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("Cats sleep a lot.")]))

    @task
    async def write_essay(topic: str) -> str:
        return str((await model.ainvoke(f"Write an essay about {topic}")).content)

    @task
    async def review(essay: str) -> dict[str, Any]:
        return {"approved": interrupt({"question": "publish this essay?"}) == "approve"}

    @entrypoint(checkpointer=InMemorySaver())
    async def async_essay_flow(topic: str) -> dict[str, Any]:
        essay = await write_essay(topic)
        verdict = await review(essay)
        return {"essay": essay, **verdict}

    return async_essay_flow


def breakpoint_graph() -> Any:
    """The joke graph with a static breakpoint before write_joke."""
    return joke_graph().copy(update={"interrupt_before_nodes": ["write_joke"]})
