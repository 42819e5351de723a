"""Graphs written the way LangGraph's docs and the seed write them, importable for replay
as ``real_world_graphs:NAME``."""

from __future__ import annotations

from typing import Any

from langgraph.prebuilt import create_react_agent
from replay_graphs import gpt4o, lookup


def react_agent() -> Any:
    """``create_react_agent`` on a fake tool-calling model: its ``remaining_steps`` is a
    managed value computed from the call's recursion limit."""
    return create_react_agent(gpt4o(), [lookup])


def langchain_agent() -> Any:
    """``langchain.agents.create_agent``, the same model and tool."""
    from langchain.agents import create_agent

    return create_agent(model=gpt4o(), tools=[lookup])
