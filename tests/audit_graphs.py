"""Graphs the audit tests record: each rule's trigger and its clean twin."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, Send, interrupt

from lgaudit import Recorder
from lgaudit.demo import AGENT_INPUT, agent_builder, scripted_model, send_email


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 100}


def runs_of(rec: Recorder, thread: str) -> list[str]:
    """Run ids of a thread, oldest first."""
    rec.flush()
    return [r["run_id"] for r in reversed(rec.store.runs(thread_id=thread, limit=None))]


class ItemsState(TypedDict):
    items: list[str]
    other: int


def items_graph(*, mutate: bool) -> Any:
    """first -> second -> touch -> last; ``touch`` appends to ``items`` in place (and
    returns something else) when ``mutate``, else returns a proper update."""

    def touch(state: ItemsState) -> dict[str, Any]:
        if mutate:
            state["items"].append("z")
            return {"other": 2}
        return {"items": [*state["items"], "z"], "other": 2}

    b = StateGraph(ItemsState)
    b.add_node("first", lambda s: {"items": ["a"]})
    b.add_node("second", lambda s: {"other": 1})
    b.add_node("touch", touch)
    b.add_node("last", lambda s: {"other": 3})
    b.add_edge(START, "first")
    b.add_edge("first", "second")
    b.add_edge("second", "touch")
    b.add_edge("touch", "last")
    return b.compile()


class FanState(TypedDict):
    topics: list[str]
    results: Annotated[list[str], operator.add]


def fan_graph() -> Any:
    """Send fan-out, parallel branches and an operator.add reducer."""
    b = StateGraph(FanState)
    b.add_node("research", lambda s: {"results": [f"r:{s['topic']}"]})
    b.add_node("left", lambda s: {"results": ["left"]})
    b.add_node("right", lambda s: {"results": ["right"]})
    b.add_conditional_edges(
        START, lambda s: [Send("research", {"topic": t}) for t in s["topics"]], ["research"]
    )
    b.add_edge("research", "left")
    b.add_edge("research", "right")
    return b.compile()


class SubState(TypedDict):
    items: Annotated[list[str], operator.add]


def subgraph_graph() -> Any:
    sub = StateGraph(SubState)
    sub.add_node("inner_a", lambda s: {"items": ["a"]})
    sub.add_node("inner_b", lambda s: {"items": ["b"]})
    sub.add_edge(START, "inner_a")
    sub.add_edge("inner_a", "inner_b")
    compiled = sub.compile()
    b = StateGraph(SubState)
    b.add_node("sub", compiled)
    b.add_node("calls_sub", lambda s: {"items": compiled.invoke({"items": []})["items"]})
    b.add_edge(START, "sub")
    b.add_edge("sub", "calls_sub")
    return b.compile()


def tool_agent_without_gate() -> Any:
    """The demo agent with the human gate removed: the tool runs with no approval."""
    llm = scripted_model().bind_tools([send_email])
    b = StateGraph(MessagesState)
    b.add_node("agent", lambda s: {"messages": [llm.invoke(s["messages"])]})
    b.add_node("tools", ToolNode([send_email]))
    b.add_edge(START, "agent")
    b.add_conditional_edges(
        "agent", lambda s: "tools" if s["messages"][-1].tool_calls else END, ["tools", END]
    )
    b.add_edge("tools", "agent")
    return b.compile()


def record_agent(
    rec: Recorder, thread: str, resume: Any = "approve", model: Any = None
) -> list[str]:
    """The demo agent: interrupt at human_review, then resume; returns both run ids."""
    graph = rec.attach(agent_builder(model).compile())
    graph.invoke(
        {"messages": [HumanMessage(AGENT_INPUT["messages"][0].content)], "approved": False},
        cfg(thread),
    )
    graph.invoke(Command(resume=resume), cfg(thread))
    return runs_of(rec, thread)


def answers(final: str) -> list[AIMessage]:
    """A scripted model: one send_email tool call, then ``final``."""
    return [
        AIMessage(
            "",
            tool_calls=[
                {
                    "name": "send_email",
                    "id": "call_1",
                    "args": {"to": "cfo@example.com", "body": "Q3"},
                }
            ],
            usage_metadata={"input_tokens": 40, "output_tokens": 10, "total_tokens": 50},
        ),
        AIMessage(
            final, usage_metadata={"input_tokens": 60, "output_tokens": 5, "total_tokens": 65}
        ),
    ]


class GatedState(TypedDict, total=False):
    approved: bool
    output: str


def subgraph_gate_graph(*, ask: bool = True) -> Any:
    """A parent graph whose approval gate (or a node posing as one) is inside a subgraph."""

    def human_review(state: GatedState) -> dict[str, Any]:
        return {"approved": interrupt("approve?") == "yes"} if ask else {"approved": True}

    sub = StateGraph(GatedState)
    sub.add_node("human_review" if ask else "self_approve", human_review)
    sub.add_edge(START, "human_review" if ask else "self_approve")
    builder = StateGraph(GatedState)
    builder.add_node("review_sub", sub.compile())
    builder.add_node("execute_payment", lambda s: {"output": "paid"})
    builder.add_edge(START, "review_sub")
    builder.add_edge("review_sub", "execute_payment")
    return builder.compile()
