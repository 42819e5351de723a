"""Graph workloads for lgaudit's benchmarks, reusable by any benchmark.

Each workload is a ``Workload``: ``build(checkpointer)`` returns a freshly compiled graph
(with any per-run state, such as the fake model's scripted replies, made anew), ``input()``
the input of one ``invoke``, ``config(thread_id)`` its config (``recursion_limit`` set high
enough), and ``supersteps`` how many super-steps one invoke runs.

* ``loop``: the plan -> execute -> review loop of the staging seed, run for ``steps``
  super-steps (``steps // 3`` iterations of three nodes; review approves at the last one).
* ``growing``: the same loop, each node appending one 1 KB message (a distinct 1024-char
  ``str``) to ``messages: Annotated[list, operator.add]``, so the state grows every step.
* ``agent``: a tool-calling agent: a fake chat model (``GenericFakeChatModel`` that supports
  ``bind_tools``) scripted to answer with one tool call per turn (``steps // 2`` turns, with
  ``usage_metadata``) and then a final answer, a ``ToolNode`` running a plain Python tool,
  and ``tools_condition`` routing between them.

Usage::

    from benchmarks.workloads import WORKLOADS
    w = WORKLOADS["loop"](steps=300)
    graph = w.build(checkpointer)
    graph.invoke(w.input(), w.config("thread-1"))
"""

from __future__ import annotations

import base64
import hashlib
import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

DEFAULT_STEPS = 300
MESSAGE_BYTES = 1024


@dataclass(frozen=True)
class Workload:
    name: str
    supersteps: int
    build: Callable[[Any], Any]  # checkpointer (or None) -> compiled graph
    input: Callable[[], dict[str, Any]]
    recursion_limit: int

    def config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": self.recursion_limit}


# -- loop and growing ---------------------------------------------------------------------


class LoopState(TypedDict):
    input: str
    step: int
    approved: bool
    output: str


class GrowingState(LoopState):
    messages: Annotated[list, operator.add]


def _message(node: str, step: int) -> str:
    """A distinct 1024-char message: deterministic pseudo-random base64, so neither
    content-addressing (lgaudit) nor TOAST/page compression (PostgreSQL) can shrink it
    much, which a repeated pattern would let them do."""
    head = f"{node}@{step}:"
    body = base64.b64encode(random.Random(head).randbytes(MESSAGE_BYTES)).decode()
    return head + body[: MESSAGE_BYTES - len(head)]


def _loop_builder(iterations: int, grow: bool) -> StateGraph:
    def planner(state: dict) -> dict:
        out: dict[str, Any] = {"step": state["step"] + 1}
        if grow:
            out["messages"] = [_message("plan", out["step"])]
        return out

    def executor(state: dict) -> dict:
        out: dict[str, Any] = {"output": f"Processed: {state['input']} (step {state['step']})"}
        if grow:
            out["messages"] = [_message("execute", state["step"])]
        return out

    def reviewer(state: dict) -> dict:
        out: dict[str, Any] = {"approved": state["step"] >= iterations}
        if grow:
            out["messages"] = [_message("review", state["step"])]
        return out

    builder = StateGraph(GrowingState if grow else LoopState)
    builder.add_node("plan", planner)
    builder.add_node("execute", executor)
    builder.add_node("review", reviewer)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "execute")
    builder.add_edge("execute", "review")
    builder.add_conditional_edges(
        "review", lambda s: END if s["approved"] else "plan", {"plan": "plan", END: END}
    )
    return builder


def loop(steps: int = DEFAULT_STEPS) -> Workload:
    iterations = max(1, steps // 3)
    builder = _loop_builder(iterations, grow=False)
    return Workload(
        name="loop",
        supersteps=iterations * 3,
        build=lambda cp: builder.compile(checkpointer=cp),
        input=lambda: {
            "input": "Quarterly financial report",
            "step": 0,
            "approved": False,
            "output": "",
        },
        recursion_limit=iterations * 3 + 50,
    )


def growing(steps: int = DEFAULT_STEPS) -> Workload:
    iterations = max(1, steps // 3)
    builder = _loop_builder(iterations, grow=True)
    return Workload(
        name="growing",
        supersteps=iterations * 3,
        build=lambda cp: builder.compile(checkpointer=cp),
        input=lambda: {
            "input": "Quarterly financial report",
            "step": 0,
            "approved": False,
            "output": "",
            "messages": [],
        },
        recursion_limit=iterations * 3 + 50,
    )


# -- agent ----------------------------------------------------------------------------------


class ToolCallingFakeChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` that accepts ``bind_tools`` (the script decides the calls)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFakeChatModel:
        return self


def lookup(query: str) -> str:
    """Look up a fact about the query (a plain Python tool)."""
    return f"fact about {query}: " + hashlib.sha256(query.encode()).hexdigest()[:32]


def _script(turns: int) -> list[AIMessage]:
    usage = {"input_tokens": 120, "output_tokens": 24, "total_tokens": 144}
    replies = [
        AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "lookup",
                    "args": {"query": f"item {i}"},
                    "id": f"call_{i}",
                    "type": "tool_call",
                }
            ],
            usage_metadata=usage,
        )
        for i in range(turns)
    ]
    replies.append(AIMessage(content=f"Done after {turns} lookups.", usage_metadata=usage))
    return replies


def agent(steps: int = DEFAULT_STEPS // 6) -> Workload:
    """``steps`` super-steps ~ ``steps // 2`` tool turns (agent + tools) + a final answer."""
    turns = max(1, steps // 2)
    tools = [lookup]

    def build(cp: Any) -> Any:
        model = ToolCallingFakeChatModel(messages=iter(_script(turns))).bind_tools(tools)

        def call_model(state: MessagesState) -> dict:
            return {"messages": [model.invoke(state["messages"])]}

        builder = StateGraph(MessagesState)
        builder.add_node("agent", call_model)
        builder.add_node("tools", ToolNode(tools))
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
        return builder.compile(checkpointer=cp)

    return Workload(
        name="agent",
        supersteps=2 * turns + 1,
        build=build,
        input=lambda: {"messages": [HumanMessage(content="Collect the facts, then summarize.")]},
        recursion_limit=2 * turns + 50,
    )


#: Default steps per workload: loop/growing 300 super-steps; agent 50 tool turns (101 steps).
WORKLOADS: dict[str, Callable[..., Workload]] = {"loop": loop, "growing": growing, "agent": agent}
DEFAULT_WORKLOAD_STEPS = {"loop": 300, "growing": 300, "agent": 100}
