"""Redaction: a secret that passes through a recorded graph never reaches the database.

Each test seeds fresh random secrets into one place a real graph carries data (its input
state, a node's output, a tool call's arguments, the config metadata, an error message),
records a run, closes the recorder and then reads the database *around* lgaudit: the raw
bytes of the SQLite file and its ``-wal``/``-shm`` files, or every row of every lgaudit
table (and every blob's bytes) on PostgreSQL. No secret may appear there in plain text.

A non-secret canary travels next to the secrets: it must be found by the same scan, which
proves the scan reads the recorded data and the values were recorded (masked), not dropped;
``store.show`` must then show the ``[REDACTED]`` mask.

Secrets used (all random per test):

* an OpenAI-style key ``sk-proj-`` + 30 alphanumerics (a default value pattern);
* an ``Authorization: Bearer <40 chars>`` header string (a default value pattern);
* ``{"password": ...}`` (a default secret key name);
* ``{"customer_ssn": ...}`` masked by the user pattern ``Recorder(redact=["customer_ssn"])``;
* an internal reference ``ACME-INTERNAL-...`` masked by a user callable in ``redact=[fn]``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, TypedDict

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt
from sqlalchemy.engine import make_url

from lgaudit import Recorder, Store
from lgaudit.demo import scripted_model

MASK = "[REDACTED]"
_ALNUM = string.ascii_letters + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def mask_internal_refs(text: str) -> str:
    """The user's own redaction callable: internal ticket references are secret."""
    return re.sub(r"ACME-INTERNAL-[A-Za-z0-9]+", MASK, text)


@dataclass
class Secrets:
    api_key: str  # sk-proj-...
    bearer_token: str  # the credential inside the Authorization header
    password: str
    ssn: str
    internal: str  # masked by the user callable
    canary: str  # NOT a secret: must be found in the database

    @classmethod
    def new(cls) -> Secrets:
        d = "".join(secrets.choice(string.digits) for _ in range(9))
        return cls(
            api_key="sk-proj-" + _rand(30),
            bearer_token=_rand(40),
            password=_rand(24),
            ssn=f"{d[:3]}-{d[3:5]}-{d[5:]}",
            internal="ACME-INTERNAL-" + _rand(20),
            canary="canary-" + _rand(16),
        )

    @property
    def header(self) -> str:
        return f"Authorization: Bearer {self.bearer_token}"

    @property
    def text(self) -> str:
        """Free text carrying every pattern-detected secret (and the canary)."""
        return f"note {self.canary}: use {self.api_key} with {self.header} for {self.internal}"

    @property
    def mapping(self) -> dict[str, str]:
        """A mapping carrying key-detected secrets (and the canary under a harmless key)."""
        return {"password": self.password, "customer_ssn": self.ssn, "login": self.canary}

    def values(self) -> dict[str, str]:
        return {
            "sk-proj api key": self.api_key,
            "bearer token": self.bearer_token,
            "password": self.password,
            "customer_ssn (user pattern)": self.ssn,
            "internal ref (user callable)": self.internal,
        }


# -- reading the database around lgaudit ------------------------------------------------------


def _raw_sqlite(url: str) -> bytes:
    path = make_url(url).database
    assert path and os.path.exists(path)
    # the db, -wal, -shm, -journal (not the directory of recorders' liveness locks)
    files = sorted(f for f in glob.glob(glob.escape(path) + "*") if os.path.isfile(f))
    return b"".join(open(f, "rb").read() for f in files)


def _raw_postgres(url: str) -> bytes:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    chunks: list[str] = []
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_name LIKE 'lgaudit%'"
            )
        ]
        assert "lgaudit_events" in tables and "lgaudit_blobs" in tables, tables
        for table in tables:
            chunks += [r[0] for r in conn.execute(f"SELECT t::text FROM {table} t")]
        chunks += [r[0] for r in conn.execute("SELECT encode(data, 'escape') FROM lgaudit_blobs")]
    return "\n".join(chunks).encode()


def raw_database(url: str) -> bytes:
    """Everything the database holds for lgaudit, read without lgaudit."""
    return _raw_sqlite(url) if make_url(url).get_backend_name() == "sqlite" else _raw_postgres(url)


def assert_no_plaintext(url: str, s: Secrets) -> None:
    raw = raw_database(url)
    assert s.canary.encode() in raw, "scan found no recorded data: the values were dropped"
    leaked = [name for name, value in s.values().items() if value.encode() in raw]
    assert not leaked, f"secrets stored in plain text: {leaked}"


def shown(url: str) -> str:
    """``lgaudit show`` of every recorded run, as one JSON text."""
    with Store.open(url) as store:
        runs = store.runs(limit=None)
        assert runs
        return json.dumps([store.show(r["run_id"]) for r in runs], default=str)


def recorder(url: str) -> Recorder:
    return Recorder(url, environment="staging", redact=["customer_ssn", mask_internal_refs])


# -- graphs carrying secrets --------------------------------------------------------------------


def _one_node_graph(state: Any, node: Any) -> Any:
    """START -> ``node`` -> END over ``state``."""
    builder = StateGraph(state)
    builder.add_node(node.__name__, node)
    builder.add_edge(START, node.__name__)
    builder.add_edge(node.__name__, END)
    return builder.compile()


class ProfileState(TypedDict, total=False):
    notes: str
    creds: dict[str, str]
    summary: str


def _profile_graph(fetch: Any) -> Any:
    def summarize(state: ProfileState) -> dict[str, Any]:
        return {"summary": f"{len(state.get('notes', ''))} chars of notes"}

    builder = StateGraph(ProfileState)
    builder.add_node("fetch", fetch)
    builder.add_node("summarize", summarize)
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", "summarize")
    builder.add_edge("summarize", END)
    return builder.compile(name="profile")


def test_secrets_in_graph_input_are_masked(db_url: str) -> None:
    s = Secrets.new()
    rec = recorder(db_url)
    graph = rec.attach(_profile_graph(lambda state: {"summary": "fetched"}))
    out = graph.invoke(
        {"notes": s.text, "creds": s.mapping}, {"configurable": {"thread_id": "input"}}
    )
    assert out["creds"]["password"] == s.password  # the graph itself sees the real value
    rec.close()

    assert_no_plaintext(db_url, s)
    text = shown(db_url)
    assert MASK in text and s.canary in text


def test_secrets_in_node_outputs_are_masked(db_url: str) -> None:
    s = Secrets.new()
    rec = recorder(db_url)
    graph = rec.attach(_profile_graph(lambda state: {"notes": s.text, "creds": s.mapping}))
    out = graph.invoke({"notes": "", "creds": {}}, {"configurable": {"thread_id": "outputs"}})
    assert out["notes"] == s.text
    rec.close()

    assert_no_plaintext(db_url, s)
    text = shown(db_url)
    assert MASK in text and s.canary in text


def test_secrets_in_tool_arguments_are_masked(db_url: str) -> None:
    s = Secrets.new()
    calls: list[dict[str, str]] = []

    @tool
    def lookup_customer(query: str, header: str, password: str, customer_ssn: str) -> str:
        """Look a customer up in the CRM."""
        calls.append({"query": query, "password": password})
        return f"found {query} using {header}"

    model = scripted_model(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": "lookup_customer",
                        "id": "call_1",
                        "args": {
                            "query": s.text,
                            "header": s.header,
                            "password": s.password,
                            "customer_ssn": s.ssn,
                        },
                    }
                ],
            ),
            AIMessage(content="The customer was found."),
        ]
    )

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([lookup_customer]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")

    rec = recorder(db_url)
    graph = rec.attach(builder.compile(name="crm_agent"))
    out = graph.invoke(
        {"messages": [HumanMessage("Find the customer.")]}, {"configurable": {"thread_id": "tools"}}
    )
    assert out["messages"][-1].content == "The customer was found."
    assert calls == [{"query": s.text, "password": s.password}]  # the tool got real values
    rec.close()

    assert_no_plaintext(db_url, s)
    text = shown(db_url)
    assert s.canary in text
    with Store.open(db_url) as store:
        (run,) = store.runs()
        starts = store.events(run["run_id"], kinds=["tool_start"])
    assert len(starts) == 1
    args = starts[0]["payload"]["input"]
    assert args["password"] == MASK and args["customer_ssn"] == MASK
    assert MASK in args["header"] and s.canary in args["query"]


def test_secrets_in_config_metadata_are_masked(db_url: str) -> None:
    s = Secrets.new()
    rec = recorder(db_url)
    graph = rec.attach(_profile_graph(lambda state: {"summary": "fetched"}))
    config = {
        "configurable": {"thread_id": "metadata"},
        "metadata": {"api_key": s.password, "customer_ssn": s.ssn, "ticket": s.text},
    }
    graph.invoke({"notes": "nothing secret"}, config)
    # the recorded checkpoint metadata (what get_state shows) carries the masks
    metadata = graph.get_state({"configurable": {"thread_id": "metadata"}}).metadata
    assert metadata["api_key"] == MASK
    assert metadata["customer_ssn"] == MASK
    assert s.canary in metadata["ticket"] and MASK in metadata["ticket"]
    rec.close()

    assert_no_plaintext(db_url, s)


def test_secrets_in_error_text_are_masked(db_url: str) -> None:
    s = Secrets.new()

    def fetch(state: ProfileState) -> dict[str, Any]:
        raise ValueError(f"failed with {s.text}")

    rec = recorder(db_url)
    graph = rec.attach(_profile_graph(fetch))
    with pytest.raises(ValueError, match="failed with") as info:
        graph.invoke({"notes": "x"}, {"configurable": {"thread_id": "error"}})
    assert s.api_key in str(info.value)  # the caller still gets the original error
    rec.close()

    with Store.open(db_url) as store:
        (run,) = store.runs()
        assert run["status"] == "failed"
        errors = store.events(run["run_id"], kinds=["node_error", "run_error"])
    assert [e["kind"] for e in errors] == ["node_error", "run_error"]
    for e in errors:
        message = e["payload"]["error"]["message"]
        assert s.canary in message and MASK in message, message
    assert_no_plaintext(db_url, s)


def test_secrets_in_tool_error_text_are_masked(db_url: str) -> None:
    s = Secrets.new()

    @tool
    def charge_card(amount: int) -> str:
        """Charge the customer's card."""
        raise ConnectionError(f"gateway refused: {s.text}")

    model = scripted_model(
        [
            AIMessage(
                content="",
                tool_calls=[{"name": "charge_card", "id": "call_1", "args": {"amount": 42}}],
            ),
            AIMessage(content="unreachable"),
        ]
    )

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([charge_card], handle_tool_errors=False))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")

    rec = recorder(db_url)
    graph = rec.attach(builder.compile(name="billing_agent"))
    with pytest.raises(ConnectionError, match="gateway refused"):
        graph.invoke(
            {"messages": [HumanMessage("Charge 42.")]},
            {"configurable": {"thread_id": "tool-error"}},
        )
    rec.close()

    with Store.open(db_url) as store:
        (run,) = store.runs()
        errors = store.events(run["run_id"], kinds=["tool_error"])
    assert len(errors) == 1
    message = errors[0]["payload"]["error"]["message"]
    assert s.canary in message and MASK in message, message
    assert_no_plaintext(db_url, s)


class SessionState(TypedDict, total=False):
    token: str  # a state key named like a secret: its value is masked, not its bookkeeping
    turns: int


def test_a_secret_named_state_key_keeps_the_thread_resumable(db_url: str) -> None:
    """Masking applies to what is stored, never to the graph: a state key named ``token``
    has its value masked in the recorded checkpoint, while the graph, continued in this
    process, reads back the value it wrote — across an interrupt too. The checkpoint's
    channel versions stay intact; a recorder of another process reads the masked value."""
    secret = "sk-proj-" + _rand(30)
    seen: list[Any] = []

    def turn(state: SessionState) -> dict[str, Any]:
        seen.append(state.get("token"))
        return {"turns": state.get("turns", 0) + 1}

    def ask(state: SessionState) -> dict[str, Any]:
        return {"token": interrupt("token please")}

    rec = recorder(db_url)
    graph = rec.attach(_one_node_graph(SessionState, turn))
    config = {"configurable": {"thread_id": "session"}}
    assert graph.invoke({"token": secret}, config)["turns"] == 1
    assert graph.invoke({}, config)["turns"] == 2  # continues from the recorded checkpoint
    assert seen == [secret, secret]
    state = graph.get_state(config)
    assert state.values == {"token": secret, "turns": 2}
    versions = graph.checkpointer.get_tuple(config).checkpoint["channel_versions"]
    assert versions and all(MASK not in str(v) for v in versions.values())
    assert len(list(graph.get_state_history(config))) == 6
    # a secret given as a resume value reaches the node that asked for it
    builder = StateGraph(SessionState)
    builder.add_node("ask", ask)
    builder.add_node("turn", turn)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "turn")
    gated = rec.attach(builder.compile())
    asked = {"configurable": {"thread_id": "asked"}}
    gated.invoke({}, asked)
    other_secret = "sk-proj-" + _rand(30)
    assert gated.invoke(Command(resume=other_secret), asked)["token"] == other_secret
    assert seen[-1] == other_secret
    rec.close()
    with Recorder(db_url) as elsewhere:  # what the store holds: the masked value
        assert (
            elsewhere.checkpointer.get_tuple(config).checkpoint["channel_values"]["token"] == MASK
        )
    raw = raw_database(db_url)
    assert secret.encode() not in raw and other_secret.encode() not in raw


def test_the_cheap_prefilter_lets_every_default_pattern_through() -> None:
    """The byte-level prefilter that keeps clean values on the fast path contains a
    substring of every secret key word and value prefix: nothing it skips needed masking."""
    from lgaudit.events import redaction

    words = redaction._KEY_WORDS + redaction._VALUE_PREFIXES
    assert all(any(n in w for n in redaction._NEEDLES) for w in words)
    r = redaction.Redactor()
    for text in ["my password is x", "Authorization: Bearer abcdefgh12345", "sk-" + "a" * 20]:
        assert r.needs(json.dumps({"note": text}).encode())
    assert not r.needs(json.dumps({"note": "quarterly report, step 3"}).encode())


class ChatState(TypedDict, total=False):
    messages: list[Any]
    password: str


def test_a_secret_named_key_next_to_a_message_history_is_masked(db_url: str) -> None:
    """State holding a message history is stored key by key (so the history is not
    rewritten at every step); a secret-named key beside it is still masked everywhere:
    checkpoint values, writes, node inputs and outputs."""
    s = Secrets.new()

    def reply(state: ChatState) -> dict[str, Any]:
        return {"messages": [*state["messages"], AIMessage(f"ok {s.canary}")]}

    rec = recorder(db_url)
    graph = rec.attach(_one_node_graph(ChatState, reply))
    config = {"configurable": {"thread_id": "chat"}}
    graph.invoke({"messages": [HumanMessage("hello")], "password": s.password}, config)
    # a key pasted into the chat is masked in the store, and still there for the graph
    pasted = [HumanMessage(f"my key is {s.api_key}"), HumanMessage("thanks")]
    graph.invoke({"messages": [*graph.get_state(config).values["messages"], *pasted]}, config)
    history = [m.content for m in graph.get_state(config).values["messages"]]
    assert f"my key is {s.api_key}" in history and len(history) == 5
    assert graph.get_state(config).values["password"] == s.password
    # a long history grows turn by turn (its encoding reused): the key stays readable
    for turn in range(12):
        said = graph.get_state(config).values["messages"]
        graph.invoke({"messages": [*said, HumanMessage(f"turn {turn}")]}, config)
    history = [m.content for m in graph.get_state(config).values["messages"]]
    assert f"my key is {s.api_key}" in history and len(history) == 29
    rec.close()
    raw = raw_database(db_url)
    assert s.canary.encode() in raw
    assert s.password.encode() not in raw, "a top-level secret key was stored in plain text"
    assert s.api_key.encode() not in raw


_SECRETS = [
    "sk-proj-" + "A1b2C3d4E5f6G7h8J9k0",
    "sk-ant-" + "x" * 20,
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "ghp_" + "a" * 36,
    "ghs_" + "B" * 30,
    "xoxb-" + "1234567890-abc",
    "AIza" + "S" * 35,
    "Bearer abcdefgh12345",
    "BEARER abcdefgh12345",
    "Basic dXNlcjpwYXNzd29yZA==",
    "bAsIc dXNlcjpwYXNzd29yZA==",
]


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=60),
    secret=st.sampled_from(["", *_SECRETS]),
    after=st.text(max_size=60),
)
def test_the_string_prefilter_passes_every_string_that_redaction_changes(
    before: str, secret: str, after: str
) -> None:
    """Plain strings take a shorter pre-check than serialized bytes (a string has no keys):
    any string redaction would change must still pass it, and clean text must not."""
    from lgaudit.events.redaction import Redactor

    r = Redactor()
    text = before + secret + after
    if r.redact(text) != text:
        assert r.needs_text(text), text
    if secret:
        assert r.needs_text(text)
    assert not r.needs_text("quarterly report, step 3 of the plan -> execute -> review loop")
    assert Redactor([lambda s: s]).needs_text("plain")  # a callable sees every string
