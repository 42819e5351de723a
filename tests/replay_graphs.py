"""Graphs the replay tests record and then replay by ``replay_graphs:NAME``.

Their model and tool count live calls (``CALLS``), so a test can prove a strict replay
called nothing.
"""

from __future__ import annotations

import asyncio
import operator
from collections import Counter
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import RetryPolicy, Send

from lgaudit.demo import ScriptedChatModel, _cycle

CALLS: Counter[str] = Counter()


class CountingModel(ScriptedChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        CALLS["model"] += 1
        CALLS[f"model:{self.model}"] += 1
        return super()._generate(*args, **kwargs)


def _usage(i: int, o: int) -> dict[str, int]:
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


def gpt4o() -> CountingModel:
    return CountingModel(
        messages=_cycle(
            [
                AIMessage(
                    "",
                    tool_calls=[{"name": "lookup", "args": {"city": "Oslo"}, "id": "c1"}],
                    usage_metadata=_usage(10, 4),
                ),
                AIMessage(
                    "",
                    tool_calls=[{"name": "lookup", "args": {"city": "Bergen"}, "id": "c2"}],
                    usage_metadata=_usage(20, 4),
                ),
                AIMessage("Oslo and Bergen are sunny.", usage_metadata=_usage(30, 6)),
            ]
        ),
        model="gpt-4o",
    )


def cheap_model() -> CountingModel:
    return CountingModel(
        messages=_cycle([AIMessage("I am the cheap model.", usage_metadata=_usage(5, 5))]),
        model="cheap-model",
    )


@tool
def lookup(city: str) -> str:
    """Weather in a city."""
    CALLS["tool"] += 1
    return f"sunny in {city}"


def agent(model: Any = None) -> Any:
    llm = (model or gpt4o()).bind_tools([lookup])

    def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", call)
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(name="weather_agent")


AGENT_INPUT = {"messages": [HumanMessage("Weather in Oslo and Bergen?")]}


class Budgeted(MessagesState):
    budget: int


def budgeted_agent() -> Any:
    """The weather agent with a state key no model or tool reads (``budget``)."""
    llm = gpt4o().bind_tools([lookup])
    builder = StateGraph(Budgeted)
    builder.add_node("agent", lambda s: {"messages": [llm.invoke(s["messages"])]})
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(name="budgeted_agent")


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def retry_graph() -> Any:
    def fetch(state: Log) -> dict[str, Any]:
        CALLS["fetch"] += 1
        return {"log": ["fetched"]}

    builder = StateGraph(Log)
    builder.add_node("prepare", lambda s: {"log": ["prepared"]})
    builder.add_node(
        "fetch",
        fetch,
        retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, retry_on=TimeoutError),
    )
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "fetch")
    return builder.compile(name="retrying")


def _tool_calling_graph(call: Any, retry_on: type[Exception], name: str) -> Any:
    """One node calling a tool for Oslo, retried by LangGraph on ``retry_on``."""

    def work(state: Log) -> dict[str, Any]:
        return {"log": [call.invoke({"city": "Oslo"})]}

    builder = StateGraph(Log)
    builder.add_node(
        "work",
        work,
        retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, retry_on=retry_on),
    )
    builder.add_edge(START, "work")
    return builder.compile(name=name)


def retrying_tool_graph() -> Any:
    """A node that calls a tool, retried by LangGraph on ``TimeoutError``."""
    return _tool_calling_graph(lookup, TimeoutError, "retrying_tool")


def retrying_model_graph() -> Any:
    """A node whose model call retries by itself (``with_retry``), with no node retry."""
    llm = gpt4o().with_retry(stop_after_attempt=3, wait_exponential_jitter=False)

    def think(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("think", think)
    builder.add_edge(START, "think")
    return builder.compile(name="retrying_model")


def _inner(name: str):
    def run(state: Log) -> dict[str, Any]:
        CALLS[name] += 1
        return {"log": [name]}

    return run


def subgraph_graph() -> Any:
    sub = StateGraph(Log)
    for name in ("inner_a", "inner_b", "inner_c"):
        sub.add_node(name, _inner(name))
    sub.add_edge(START, "inner_a")
    sub.add_edge("inner_a", "inner_b")
    sub.add_edge("inner_b", "inner_c")
    builder = StateGraph(Log)
    builder.add_node("before", _inner("before"))
    builder.add_node("sub", sub.compile())
    builder.add_node("after", _inner("after"))
    builder.add_edge(START, "before")
    builder.add_edge("before", "sub")
    builder.add_edge("sub", "after")
    return builder.compile(name="nested")


class Fan(TypedDict):
    cities: list[str]
    reports: Annotated[list[str], operator.add]


def fan_graph() -> Any:
    def research(state: dict[str, Any]) -> dict[str, Any]:
        return {"reports": [lookup.invoke({"city": state["city"]})]}

    builder = StateGraph(Fan)
    builder.add_node("research", research)
    builder.add_node("summarize", lambda s: {"reports": [f"{len(s['reports'])} reports"]})
    builder.add_conditional_edges(
        START, lambda s: [Send("research", {"city": c}) for c in s["cities"]], ["research"]
    )
    builder.add_edge("research", "summarize")
    return builder.compile(name="fan")


def async_graph() -> Any:
    llm = gpt4o()

    async def think(state: MessagesState) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"messages": [await llm.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("think", think)
    builder.add_edge(START, "think")
    return builder.compile(name="async_thinker")


def noisy_graph() -> Any:
    """A node that prints, as debugging code does."""

    def chatty(state: Log) -> dict[str, Any]:
        print("debug: node ran")
        return {"log": ["said"]}

    builder = StateGraph(Log)
    builder.add_node("chatty", chatty)
    builder.add_edge(START, "chatty")
    return builder.compile(name="noisy")


FLAKY = {"calls": 0}


@tool
def flaky_lookup(city: str) -> str:
    """Weather in a city; the first call fails."""
    CALLS["flaky"] += 1
    FLAKY["calls"] += 1
    if FLAKY["calls"] == 1:
        raise ValueError(f"upstream returned nothing for {city}")
    return f"sunny in {city}"


def flaky_tool_graph() -> Any:
    """A node calling a tool that fails once; the node retries on ``ValueError``."""
    return _tool_calling_graph(flaky_lookup, ValueError, "flaky_tool")
