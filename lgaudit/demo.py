"""The graphs of ``lgaudit demo``, importable for replay (``--graph lgaudit.demo:agent``).

* ``staging`` — the seed's staging demo: plan -> execute -> review, looping until the
  reviewer approves (the reviewer sets ``approved`` itself: an audit with a human gate
  policy calls that a forged approval).
* ``agent`` — an approval-gated, tool-calling agent on a scripted fake chat model: the model
  asks to send an email, ``human_review`` interrupts for a human decision, the approved tool
  call runs, the model answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict, cast

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model answering from a script; tool binding is accepted and ignored."""

    model: str = "scripted-model"
    disable_streaming: bool = True  # answers whole messages, tool calls included

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self


def _default_answers() -> list[BaseMessage]:
    return [
        AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "send_email",
                    "id": "call_1",
                    "args": {"to": "cfo@example.com", "body": "Q3 report attached"},
                }
            ],
            usage_metadata={"input_tokens": 42, "output_tokens": 12, "total_tokens": 54},
        ),
        AIMessage(
            content="The report was emailed to the CFO.",
            usage_metadata={"input_tokens": 61, "output_tokens": 9, "total_tokens": 70},
        ),
    ]


def scripted_model(
    answers: list[BaseMessage] | None = None, *, model: str = "scripted-model"
) -> ScriptedChatModel:
    """The demo agent's answers (one ``send_email`` tool call, then a final answer), or
    ``answers``, in a cycle."""
    # GenericFakeChatModel passes any message through (its annotation says AIMessage | str)
    messages = cast("Iterator[AIMessage | str]", _cycle(answers or _default_answers()))
    return ScriptedChatModel(messages=messages, model=model)


class TurnScriptedModel(ScriptedChatModel):
    """A scripted model answering by turn: its Nth answer when the conversation since the
    last human message holds N - 1 answers — the same answers as ``scripted_model`` gives
    one conversation, and each of the threads sharing one compiled graph (as under
    ``[load]``) gets the whole script."""

    script: list[BaseMessage] = []

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        since = messages[humans[-1] + 1 :] if humans else messages
        turn = sum(isinstance(m, AIMessage) for m in since) % len(self.script)
        answer = self.script[turn].model_copy(deep=True)
        return ChatResult(generations=[ChatGeneration(message=answer)])


def turn_model() -> TurnScriptedModel:
    """The demo agent's model: one ``send_email`` tool call, then a final answer."""
    return TurnScriptedModel(messages=iter([]), script=_default_answers())


def _cycle(answers: list[BaseMessage]) -> Iterator[BaseMessage]:
    while True:
        yield from (a.model_copy(deep=True) for a in answers)


SENT: list[dict[str, str]] = []  # the demo tool's side effect, observable by tests


@tool
def send_email(to: str, body: str) -> str:
    """Send an email (the demo records it instead of sending)."""
    SENT.append({"to": to, "body": body})
    return f"sent to {to}"


# -- the seed's staging demo ------------------------------------------------------------------


class StagingState(TypedDict):
    input: str
    step: int
    approved: bool
    output: str


def planner(state: StagingState) -> dict[str, Any]:
    return {"step": state["step"] + 1}


def executor(state: StagingState) -> dict[str, Any]:
    return {"output": f"Processed: {state['input']} (step {state['step']})"}


def reviewer(state: StagingState) -> dict[str, Any]:
    return {"approved": state["step"] >= 2}


def staging_builder() -> StateGraph:
    builder = StateGraph(StagingState)
    builder.add_node("plan", planner)
    builder.add_node("execute", executor)
    builder.add_node("review", reviewer)
    builder.set_entry_point("plan")
    builder.add_edge("plan", "execute")
    builder.add_edge("execute", "review")
    builder.add_conditional_edges(
        "review", lambda s: END if s["approved"] else "plan", {"plan": "plan", END: END}
    )
    return builder


def staging() -> Any:
    """The seed's staging graph, compiled (a zero-argument factory, usable by replay)."""
    return staging_builder().compile(name="staging_demo")


#: The seed's ``staging_config``, verbatim: top-level keys LangGraph ignores, no thread.
STAGING_CONFIG: dict[str, Any] = {
    "environment": "staging",
    "recursion_limit": 10,
    "checkpointing": True,
    "cost_tracking": True,
    "debug": True,
}

STAGING_INPUT: StagingState = {
    "input": "Quarterly financial report",
    "step": 0,
    "approved": False,
    "output": "",
}


# -- the approval-gated agent -----------------------------------------------------------------


class AgentState(MessagesState):
    approved: bool


def agent_builder(
    model: Any = None, *, internal_mail_unreviewed: bool = False, gate: str = "human_review"
) -> StateGraph:
    """The approval-gated agent. ``internal_mail_unreviewed``: the demo's changed version,
    whose routing sends mail to ``example.com`` addresses without asking the human;
    ``gate``: the name of the approval node (another demo version renames it)."""
    llm = (model or turn_model()).bind_tools([send_email])

    def call_model(state: AgentState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    def human_review(state: AgentState) -> Command:
        call = cast(AIMessage, state["messages"][-1]).tool_calls[0]
        answer = interrupt({"action": call["name"], "args": call["args"]})
        approved = answer in ("yes", "approve", True) or (
            isinstance(answer, dict) and bool(answer.get("approved"))
        )
        return Command(goto="tools" if approved else END, update={"approved": approved})

    def route(state: AgentState) -> str:
        last = state["messages"][-1]
        calls = getattr(last, "tool_calls", None)
        if calls and internal_mail_unreviewed:
            if all(str(c["args"].get("to", "")).endswith("@example.com") for c in calls):
                return "tools"  # the change: internal mail skips the approval gate
        return gate if calls else END

    builder = StateGraph(AgentState)
    builder.add_node("agent", call_model)
    builder.add_node(gate, human_review, destinations=("tools", END))
    builder.add_node("tools", ToolNode([send_email]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, [gate, "tools", END])
    builder.add_edge("tools", "agent")
    return builder


def agent() -> Any:
    """The approval-gated agent, compiled (a zero-argument factory, usable by replay)."""
    return agent_builder().compile(name="approval_agent")


def agent_fast_lane() -> Any:
    """A candidate version of the agent: internal mail is sent without a human's approval
    (``lgaudit demo`` stages it, and the gate blocks it)."""
    return agent_builder(internal_mail_unreviewed=True).compile(name="approval_agent")


def agent_renamed_gate() -> Any:
    """Another candidate version: ``human_review`` renamed ``approval`` (a refactor). A
    thread waiting at ``human_review`` when it ships cannot go on (``lgaudit demo`` stages
    it: the ``pending`` check blocks it)."""
    return agent_builder(gate="approval").compile(name="approval_agent")


def outbox(to: str, body: str) -> str:
    """The staging sandbox's stand-in for ``send_email``: nothing is sent."""
    return f"(sandbox) not sent to {to}"


AGENT_INPUT = {"messages": [HumanMessage("Email the Q3 report to the CFO.")], "approved": False}


# -- the demo itself --------------------------------------------------------------------------

#: The policy the demo audits with: a human gate guards the email tool and the approval key.
DEMO_POLICY = """\
[approval]
gates = ["human_review"]
protected = ["tool:send_email"]
approve = ["yes", "approve", true]
state_key = "approved"

[budget]
max_steps = 50
max_node_repeats = 10
max_llm_calls = 20
max_tool_calls = 20
max_tokens = 20000
"""
