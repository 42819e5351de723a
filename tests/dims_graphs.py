"""Graphs for staging's other dimensions (``dims_graphs:NAME``), written as LangGraph's docs
write them: a node that hangs on an event, a ``create_react_agent`` whose tool moves money
(its side effect a file), an agent whose message list grows without bound, a racy node
keeping per-thread data in a module-level dict, and an approval graph with its next
versions (a renamed node, a tightened pydantic state, an added node, an added state key)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import create_react_agent
from langgraph.types import Command, interrupt
from pydantic import BaseModel, Field

from lgaudit.demo import ScriptedChatModel

# -- a hang --------------------------------------------------------------------------------

RELEASE = threading.Event()  # never set by the graph: the test sets it when done


class Job(TypedDict, total=False):
    job: str
    done: bool


def hang() -> Any:
    """``wait_for_lock`` waits forever on an event nobody sets (a deadlock)."""

    def prepare(state: Job) -> dict[str, Any]:
        return {"job": state.get("job", "") + "!"}

    def wait_for_lock(state: Job) -> dict[str, Any]:
        RELEASE.wait()
        return {"done": True}

    b = StateGraph(Job)
    b.add_node("prepare", prepare)
    b.add_node("wait_for_lock", wait_for_lock)
    b.add_edge(START, "prepare")
    b.add_edge("prepare", "wait_for_lock")
    return b.compile(name="hang")


def parallel_hang() -> Any:
    """``left`` and ``wait_for_lock`` run in one step (LangGraph's task threads): the second
    waits forever."""

    def left(state: Job) -> dict[str, Any]:
        return {"job": "left"}

    def wait_for_lock(state: Job) -> dict[str, Any]:
        RELEASE.wait()
        return {"done": True}

    b = StateGraph(Job)
    b.add_node("left", left)
    b.add_node("wait_for_lock", wait_for_lock)
    b.add_edge(START, "left")
    b.add_edge(START, "wait_for_lock")
    return b.compile(name="parallel_hang")


def slow_then_fine() -> Any:
    """``think`` sleeps in short steps and calls a model each step: a case a timeout stops
    at its next model call."""
    llm = ScriptedChatModel(messages=itertools.cycle([AIMessage("hm")]))

    def think(state: MessagesState) -> dict[str, Any]:
        out = []
        for _ in range(400):
            time.sleep(0.05)
            out.append(llm.invoke(state["messages"]))
        return {"messages": out[-1:]}

    b = StateGraph(MessagesState)
    b.add_node("think", think)
    b.add_edge(START, "think")
    return b.compile(name="slow")


# -- a tool that moves money ---------------------------------------------------------------


def ledger() -> Path:
    """Where ``transfer`` writes: its real side effect."""
    return Path(os.environ.get("DIMS_LEDGER", "ledger.txt"))


@tool
def transfer(to: str, amount: int) -> str:
    """Transfer money to an account."""
    with ledger().open("a", encoding="utf-8") as f:
        f.write(f"{to} {amount}\n")
    return f"sent {amount} to {to}"


@tool
def lookup_order(order: int) -> str:
    """Look up an order."""
    return f"order {order}: 2 books"


def fake_transfer(to: str, amount: int) -> str:
    """The sandbox's stand-in for ``transfer``: nothing moves."""
    return f"(sandbox) would send {amount} to {to}"


@tool("transfer")
def fake_transfer_tool(to: str, amount: int) -> str:
    """The stand-in as a tool of its own (same name as the real one)."""
    return f"(sandbox) would send {amount} to {to}"


_USAGE = {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}
REFUND_SCRIPT = [
    AIMessage("", tool_calls=[{"name": "lookup_order", "id": "c1", "args": {"order": 42}}],
              usage_metadata=_USAGE),
    AIMessage("", tool_calls=[{"name": "transfer", "id": "c2",
                               "args": {"to": "acct-7", "amount": 30}}], usage_metadata=_USAGE),
    AIMessage("Refunded 30 for order 42.", usage_metadata=_USAGE),
]  # fmt: skip


class TurnModel(ScriptedChatModel):
    """A scripted model answering by turn: its Nth answer when the conversation holds N - 1
    answers already (every case, and every thread under load, gets the same script)."""

    script: list[AIMessage] = []

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        answer = self.script[min(turn, len(self.script) - 1)].model_copy()
        return ChatResult(generations=[ChatGeneration(message=answer)])


def refund_agent() -> Any:
    """``create_react_agent`` with ``lookup_order`` and ``transfer``."""
    model = TurnModel(messages=iter([]), script=REFUND_SCRIPT)
    return create_react_agent(model, [lookup_order, transfer], name="refunds")


REFUND_INPUT = {"messages": [{"type": "human", "content": "refund order 42"}]}


# -- unbounded growth ----------------------------------------------------------------------


def chatty() -> Any:
    """An agent node that appends 200 padded messages to its state on every call."""

    def talk(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("x" * 500) for _ in range(200)]}

    b = StateGraph(MessagesState)
    b.add_node("agent", talk)
    b.add_edge(START, "agent")
    return b.compile(name="chatty")


# -- a race --------------------------------------------------------------------------------

HISTORY: dict[str, list[str]] = {}  # per-user history kept at module level


class Ticket(TypedDict, total=False):
    user: str
    query: str
    history: list[str]
    answer: str


def racy() -> Any:
    """``fetch`` keeps each user's history in a module-level dict and returns that very
    list as the state's value; ``think`` pauses; ``answer`` reads the history. Run alone it
    looks fine; under concurrency another thread's ``fetch`` appends to the list this
    thread's state holds: its state changes with no write of its own."""
    HISTORY.clear()

    def fetch(state: Ticket) -> dict[str, Any]:
        history = HISTORY.setdefault(state["user"], [])
        history.append(state["query"])
        return {"history": history}

    def think(state: Ticket) -> dict[str, Any]:
        time.sleep(0.02)
        return {}

    def answer(state: Ticket) -> dict[str, Any]:
        return {"answer": f"{len(state['history'])} question(s) so far"}

    b = StateGraph(Ticket)
    b.add_node("fetch", fetch)
    b.add_node("think", think)
    b.add_node("answer", answer)
    b.add_edge(START, "fetch")
    b.add_edge("fetch", "think")
    b.add_edge("think", "answer")
    return b.compile(name="tickets")


def calm() -> Any:
    """The same graph keeping the history in its own state: no race."""

    def fetch(state: Ticket) -> dict[str, Any]:
        return {"history": [*state.get("history", []), state["query"]]}

    def think(state: Ticket) -> dict[str, Any]:
        time.sleep(0.02)
        return {}

    def answer(state: Ticket) -> dict[str, Any]:
        return {"answer": f"{len(state['history'])} question(s) so far"}

    b = StateGraph(Ticket)
    b.add_node("fetch", fetch)
    b.add_node("think", think)
    b.add_node("answer", answer)
    b.add_edge(START, "fetch")
    b.add_edge("fetch", "think")
    b.add_edge("think", "answer")
    return b.compile(name="tickets")


# -- threads parked at an interrupt --------------------------------------------------------

DONE: list[str] = []


class Refund(TypedDict, total=False):
    order: int
    amount: int
    approved: bool


def _approval(review: str = "review", *, extra_node: bool = False, state: Any = Refund) -> Any:
    def draft(s: Any) -> dict[str, Any]:
        return {"amount": 30}

    def gate(s: Any) -> dict[str, Any]:
        answer = interrupt({"refund": s["amount"] if isinstance(s, dict) else s.amount})
        return {"approved": answer == "approve"}

    def pay(s: Any) -> dict[str, Any]:
        DONE.append("paid")
        return {}

    b = StateGraph(state)
    b.add_node("draft", draft)
    b.add_node(review, gate)
    b.add_node("pay", pay)
    b.add_edge(START, "draft")
    b.add_edge("draft", review)
    if extra_node:
        b.add_node("notify", lambda s: {})
        b.add_edge(review, "notify")
        b.add_edge("notify", "pay")
    else:
        b.add_edge(review, "pay")
    b.add_edge("pay", END)
    return b


def approvals() -> Any:
    """v1, in production: a refund waits at ``review`` for a human."""
    return _approval().compile(name="approvals")


def approvals_renamed() -> Any:
    """v2: ``review`` renamed ``human_review``."""
    return _approval("human_review").compile(name="approvals")


class StrictRefund(BaseModel):
    order: int
    amount: int = Field(ge=100)  # tightened: small refunds are no longer a valid state
    approved: bool = False


def approvals_strict() -> Any:
    """v2: a pydantic state refusing the stored ``amount`` of 30."""
    return _approval(state=StrictRefund).compile(name="approvals")


def approvals_notify() -> Any:
    """v2: a ``notify`` node added after the review."""
    return _approval(extra_node=True).compile(name="approvals")


class RefundWithNote(Refund, total=False):
    note: str


def approvals_note() -> Any:
    """v2: a ``note`` key added to the state."""
    return _approval(state=RefundWithNote).compile(name="approvals")


def approvals_asks_again() -> Any:
    """v2: the gate now wants "yes" and asks again at anything else (an old answer loops)."""

    def draft(s: Refund) -> dict[str, Any]:
        return {"amount": 30}

    def review(s: Refund) -> Command:
        answer = interrupt({"refund": s["amount"], "say": "yes"})
        return Command(goto="pay" if answer == "yes" else "review", update={"approved": True})

    b = StateGraph(Refund)
    b.add_node("draft", draft)
    b.add_node("review", review, destinations=("pay", "review"))
    b.add_node("pay", lambda s: {})
    b.add_edge(START, "draft")
    b.add_edge("draft", "review")
    return b.compile(name="approvals")


ASKED: list[Any] = []


def approve_small(value: Any) -> str:
    """A simulated human for pending threads: approves refunds under 100."""
    ASKED.append(value)
    return "approve" if value["refund"] < 100 else "reject"


APPROVAL_INPUT = {"order": 42}

__all__ = ["HumanMessage", "END"]
