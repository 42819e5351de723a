"""Graphs the stage tests record as production traffic and stage as candidates
(``stage_graphs:NAME``): an approval-gated payment graph and its changed versions, a graph
with a retry policy and fallbacks, and a graph with a nondeterministic node.

The ToolNode agent on a fake tool-calling model is ``replay_graphs:agent``.
"""

from __future__ import annotations

import random
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, RetryPolicy, interrupt

from lgaudit.demo import ScriptedChatModel, _cycle

EXECUTED: list[int] = []  # the protected node's side effect: amounts paid


class Payment(TypedDict, total=False):
    amount: int
    approved: bool
    paid: bool


def _payment(*, small_skips_review: bool = False, ignores_rejection: bool = False) -> Any:
    def check(state: Payment) -> Command:
        if small_skips_review and state["amount"] < 100:
            return Command(goto="execute_payment")  # the changed routing: no human asked
        return Command(goto="human_review")

    def human_review(state: Payment) -> Command:
        answer = interrupt({"pay": state["amount"]})
        approved = answer in ("approve", "yes", True)
        goes = "execute_payment" if approved or ignores_rejection else END
        return Command(goto=goes, update={"approved": approved})

    def execute_payment(state: Payment) -> dict[str, Any]:
        EXECUTED.append(state["amount"])
        return {"paid": True}

    b = StateGraph(Payment)
    b.add_node("check", check, destinations=("human_review", "execute_payment"))
    b.add_node("human_review", human_review, destinations=("execute_payment", END))
    b.add_node("execute_payment", execute_payment)
    b.add_edge(START, "check")
    return b.compile(name="payments")


def payments() -> Any:
    """Every payment waits for a human's approval at ``human_review``."""
    return _payment()


def payments_fast_lane() -> Any:
    """A changed version: payments under 100 skip the human."""
    return _payment(small_skips_review=True)


def payments_ignoring_rejection() -> Any:
    """A broken version: a rejected payment is executed anyway."""
    return _payment(ignores_rejection=True)


PAYMENT_POLICY = """
[approval]
gates = ["human_review"]
protected = ["execute_payment"]
approve = ["approve", "yes", true]
"""


def say_no(value: Any) -> str:
    """A simulated human (``module:attr``) rejecting everything it is asked."""
    return "reject"


# -- retries and fallbacks ---------------------------------------------------------------------


class Quote(MessagesState):
    rate: str


@tool
def live_rate(currency: str) -> str:
    """The live exchange rate."""
    return f"{currency} 1.10"


@tool
def cached_rate(currency: str) -> str:
    """The last known exchange rate."""
    return f"{currency} 1.09 (cached)"


def _model(name: str, text: str) -> ScriptedChatModel:
    usage = {"input_tokens": 30, "output_tokens": 10, "total_tokens": 40}
    return ScriptedChatModel(messages=_cycle([AIMessage(text, usage_metadata=usage)]), model=name)


def quotes() -> Any:
    """``rate`` retries on TimeoutError and falls back to the cached rate; ``explain``'s
    model falls back to a backup model."""
    llm = _model("primary-model", "EUR is at 1.10.").with_fallbacks(
        [_model("backup-model", "EUR is about 1.10.")]
    )

    def rate(state: Quote) -> dict[str, Any]:
        try:
            return {"rate": live_rate.invoke({"currency": "EUR"})}
        except TimeoutError:
            return {"rate": cached_rate.invoke({"currency": "EUR"})}

    def explain(state: Quote) -> dict[str, Any]:
        return {"messages": [llm.invoke([HumanMessage(f"Explain {state['rate']}")])]}

    b = StateGraph(Quote)
    b.add_node(
        "rate",
        rate,
        retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.01, retry_on=TimeoutError),
    )
    b.add_node("explain", explain)
    b.add_edge(START, "rate")
    b.add_edge("rate", "explain")
    return b.compile(name="quotes")


# -- nondeterminism ----------------------------------------------------------------------------


class Ticket(TypedDict, total=False):
    name: str
    ticket: int
    greeting: str


def lottery() -> Any:
    """``draw`` writes a random ticket number: runs of the same version differ there."""
    b = StateGraph(Ticket)
    b.add_node("draw", lambda s: {"ticket": random.randint(0, 10**9)})
    b.add_node("greet", lambda s: {"greeting": f"hello {s['name']}"})
    b.add_edge(START, "draw")
    b.add_edge("draw", "greet")
    return b.compile(name="lottery")


def lottery_rude() -> Any:
    """A changed version: a different greeting."""
    b = StateGraph(Ticket)
    b.add_node("draw", lambda s: {"ticket": random.randint(0, 10**9)})
    b.add_node("greet", lambda s: {"greeting": f"go away {s['name']}"})
    b.add_edge(START, "draw")
    b.add_edge("draw", "greet")
    return b.compile(name="lottery")


def unmetered() -> Any:
    """A node whose model reports no token usage (its cost cannot be observed)."""
    llm = ScriptedChatModel(messages=_cycle([AIMessage("hello")]), model="quiet-model")
    b = StateGraph(MessagesState)
    b.add_node("talk", lambda s: {"messages": [llm.invoke(s["messages"])]})
    b.add_edge(START, "talk")
    return b.compile(name="unmetered")
