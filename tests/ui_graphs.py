"""What the console tests record and serve: a run with markup in its state, a node name
and tool arguments; two runs that differ in one word; a run whose node fails; and the app
served by uvicorn on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypedDict

from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph

from lgaudit import Recorder

HOSTILE_NODE = "<script>window.__pwned_node=1</script>"
HOSTILE_STATE = (
    '<img src=x onerror="window.__pwned_state=1"><script>window.__pwned_state=1</script>'
)
HOSTILE_ARG = "<script>window.__pwned_tool=1</script>"


class NoteState(TypedDict, total=False):
    note: str
    receipt: str


@tool
def file_note(text: str) -> str:
    """File a note and return its receipt."""
    return f"filed {len(text)} characters"


def hostile_graph() -> Any:
    def write(state: NoteState) -> dict[str, Any]:
        return {"note": HOSTILE_STATE}

    def store_note(state: NoteState) -> dict[str, Any]:
        return {"receipt": file_note.invoke({"text": HOSTILE_ARG})}

    b = StateGraph(NoteState)
    b.add_node(HOSTILE_NODE, write)
    b.add_node("store_note", store_note)
    b.add_edge(START, HOSTILE_NODE)
    b.add_edge(HOSTILE_NODE, "store_note")
    b.add_edge("store_note", END)
    return b.compile(name="hostile_notes")


class LetterState(TypedDict, total=False):
    name: str
    letter: str
    signed: bool


def letter_graph() -> Any:
    """draft -> sign: the letter names the customer."""
    b = StateGraph(LetterState)
    b.add_node(
        "draft",
        lambda s: {"letter": f"Dear {s['name']}, your order 4411 has shipped today. Thanks!"},
    )
    b.add_node("sign", lambda s: {"signed": True})
    b.add_edge(START, "draft")
    b.add_edge("draft", "sign")
    b.add_edge("sign", END)
    return b.compile(name="letters")


class ChargeState(TypedDict, total=False):
    amount: int
    charged: bool


def charge_graph() -> Any:
    """prepare -> charge, which fails."""

    def charge(state: ChargeState) -> dict[str, Any]:
        raise ValueError("card declined")

    b = StateGraph(ChargeState)
    b.add_node("prepare", lambda s: {"amount": 42})
    b.add_node("charge", charge)
    b.add_edge(START, "prepare")
    b.add_edge("prepare", "charge")
    b.add_edge("charge", END)
    return b.compile(name="charges")


def record_ui_runs(url: str) -> dict[str, str]:
    """Record the runs the console tests look at; their ids by name."""
    with Recorder(url, environment="ui-test") as rec:
        rec.attach(hostile_graph()).invoke({}, {"configurable": {"thread_id": "hostile"}})
        letters = rec.attach(letter_graph())
        letters.invoke({"name": "Alice"}, {"configurable": {"thread_id": "letter-a"}})
        letters.invoke({"name": "Alicia"}, {"configurable": {"thread_id": "letter-b"}})
        try:
            rec.attach(charge_graph()).invoke({}, {"configurable": {"thread_id": "charge"}})
        except ValueError:
            pass
        rec.flush()
        by_thread = {r["thread_id"]: r["run_id"] for r in rec.store.runs(limit=None)}
    return {
        "hostile": by_thread["hostile"],
        "letter_a": by_thread["letter-a"],
        "letter_b": by_thread["letter-b"],
        "charge": by_thread["charge"],
    }


@contextmanager
def served(url: str, **options: Any) -> Iterator[str]:
    """``lgaudit ui``'s app on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    from lgaudit.ui import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(url, **options), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the console did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class CounterState(TypedDict):
    n: int


def counter_graph(until: int) -> Any:
    """``count`` runs ``until`` times, a step each."""
    b = StateGraph(CounterState)
    b.add_node("count", lambda s: {"n": s["n"] + 1})
    b.add_edge(START, "count")
    b.add_conditional_edges("count", lambda s: END if s["n"] >= until else "count")
    return b.compile(name="counter")
