"""Graphs the interop tests export, import and stage (``interop_graphs:NAME``): an agent
whose tool fails, and a changed version of the weather agent (``replay_graphs:agent``)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition
from replay_graphs import gpt4o, lookup

from lgaudit.demo import ScriptedChatModel, _cycle


@tool
def broken_lookup(city: str) -> str:
    """Weather in a city; the upstream is down."""
    raise ValueError(f"upstream down for {city}")


def fragile_agent() -> Any:
    """A ReAct agent whose tool fails; ToolNode hands the error to the model."""
    model = ScriptedChatModel(
        messages=_cycle(
            [
                AIMessage(
                    "",
                    tool_calls=[{"name": "broken_lookup", "args": {"city": "Oslo"}, "id": "b1"}],
                    usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
                ),
                AIMessage(
                    "I could not look it up.",
                    usage_metadata={"input_tokens": 9, "output_tokens": 5, "total_tokens": 14},
                ),
            ]
        ),
        model="fake-tool-caller",
    )
    tools = ToolNode([broken_lookup], handle_tool_errors=True)  # the model reads the error
    return create_react_agent(model, tools, name="fragile_agent")


def briefed_agent() -> Any:
    """The weather agent changed: its model is told to be brief (a system prompt)."""
    llm = gpt4o().bind_tools([lookup])

    def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke([SystemMessage("Be brief."), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", call)
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(name="weather_agent")


def signed_agent() -> Any:
    """The weather agent changed after its model: the agent node signs the model's answers
    (same model requests, same tool calls; only what the run returns differs)."""
    llm = gpt4o().bind_tools([lookup])

    def call(state: MessagesState) -> dict[str, Any]:
        answer = llm.invoke(state["messages"])
        if not answer.tool_calls:
            answer = answer.model_copy(update={"content": f"{answer.content} (the weather bot)"})
        return {"messages": [answer]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", call)
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(name="weather_agent")


def weather_entrypoint() -> Any:
    """The Functional API: an entrypoint calling a ``@task`` per city."""
    from langgraph.func import entrypoint, task

    @task
    def look(city: str) -> str:
        return lookup.invoke({"city": city})

    @entrypoint()
    def weather(cities: list[str]) -> list[str]:
        return [f.result() for f in [look(c) for c in cities]]

    return weather
