"""Stored data is never executed on load, and nothing unserializable is silently dropped.

An attacker who can INSERT into the store (the triggers allow inserts) plants values that
would run ``touch SENTINEL`` when deserialized by a permissive serializer: LangGraph's
msgpack constructor extensions, ``lc`` JSON constructors, and pickle. Reading the state back
through the checkpointer (and the compiled graph) must never run them.
"""

from __future__ import annotations

import json
import operator
import os
import pickle
import threading
from pathlib import Path
from typing import Annotated, Any, TypedDict

import ormsgpack
import pytest
from helpers import fetch, insert_raw, loop_builder, put_chain, record_loop
from langgraph.checkpoint.serde.jsonplus import (
    EXT_CONSTRUCTOR_KW_ARGS,
    EXT_CONSTRUCTOR_POS_ARGS,
    EXT_CONSTRUCTOR_SINGLE_ARG,
    EXT_METHOD_SINGLE_ARG,
    EXT_PYDANTIC_V1,
    EXT_PYDANTIC_V2,
    JsonPlusSerializer,
)
from langgraph.graph import END, StateGraph

from lgaudit import AuditSaver, Store, StoreError
from lgaudit.codec.serialization import PLACEHOLDER_KEY, blob_hash


class _PickleBomb:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.path}",))


def _ext(code: int, fields: list[Any]) -> Any:
    return ormsgpack.Ext(code, ormsgpack.packb(fields))


def crafted(kind: str, sentinel: Path) -> tuple[str, bytes]:
    """A stored value that runs ``touch sentinel`` if its constructor is ever called."""
    cmd, p = f"touch {sentinel}", str(sentinel)
    exts = {
        "ext_single_arg": lambda: _ext(EXT_CONSTRUCTOR_SINGLE_ARG, ["os", "system", cmd]),
        "ext_pos_args": lambda: _ext(EXT_CONSTRUCTOR_POS_ARGS, ["os", "system", [cmd]]),
        "ext_kw_args": lambda: _ext(
            EXT_CONSTRUCTOR_KW_ARGS, ["subprocess", "run", {"args": ["touch", p]}]
        ),
        "ext_method": lambda: _ext(
            EXT_METHOD_SINGLE_ARG, ["subprocess", "Popen", ["touch", p], "__call__"]
        ),
        "ext_pydantic_v2": lambda: _ext(EXT_PYDANTIC_V2, ["os", "system", {"command": cmd}, None]),
        "ext_pydantic_v1": lambda: _ext(EXT_PYDANTIC_V1, ["os", "system", {"command": cmd}, None]),
        "ext_nested": lambda: {
            "messages": [{"content": _ext(EXT_CONSTRUCTOR_POS_ARGS, ["os", "system", [cmd]])}]
        },
    }
    if kind in exts:
        return "msgpack", ormsgpack.packb(exts[kind]())
    if kind == "json_lc2":
        doc = {"lc": 2, "type": "constructor", "id": ["os", "system"], "args": [cmd]}
        return "json", json.dumps(doc).encode()
    if kind == "json_lc1":
        doc = {"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {"command": cmd}}
        return "json", json.dumps(doc).encode()
    if kind == "pickle":
        return "pickle", pickle.dumps(_PickleBomb(p))
    raise AssertionError(kind)


KINDS = [
    "ext_single_arg",
    "ext_pos_args",
    "ext_kw_args",
    "ext_method",
    "ext_pydantic_v2",
    "ext_pydantic_v1",
    "ext_nested",
    "json_lc2",
    "json_lc1",
    "pickle",
]
#: Payloads that a permissive serializer really executes (the control experiment).
LIVE = [
    "ext_single_arg",
    "ext_pos_args",
    "ext_kw_args",
    "ext_pydantic_v2",
    "ext_pydantic_v1",
    "ext_nested",
    "json_lc2",
    "pickle",
]
#: Payloads the safe serializer refuses outright (rather than returning their raw fields).
REFUSED = ["json_lc1", "pickle"]


@pytest.mark.parametrize("kind", LIVE)
def test_crafted_payloads_are_live_exploits(kind: str, tmp_path: Path) -> None:
    """Control: a permissive serializer does run them, so the tests below mean something."""
    sentinel = tmp_path / "PWNED"
    permissive = JsonPlusSerializer(
        pickle_fallback=True, allowed_msgpack_modules=True, allowed_json_modules=True
    )
    try:
        permissive.loads_typed(crafted(kind, sentinel))
    except Exception:  # noqa: BLE001 - some constructors fail after running
        pass
    assert sentinel.exists()


def _insert_blob(url: str, blob: tuple[str, bytes]) -> str:
    ref = blob_hash(*blob)
    insert_raw(url, "lgaudit_blobs", {"hash": ref, "type": blob[0], "data": blob[1]})
    return ref


def _read_everything(url: str, config: dict[str, Any]) -> list[Any]:
    """Every way a user reads state back: saver, graph, listing, raw blobs."""
    out: list[Any] = []
    with Store.open(url) as reader:
        saver = AuditSaver(reader)
        for call in (
            lambda: saver.get_tuple(config),
            lambda: list(saver.list(config)),
            lambda: list(saver.list(None)),
            lambda: loop_builder().compile(checkpointer=saver).get_state(config),
            lambda: list(loop_builder().compile(checkpointer=saver).get_state_history(config)),
            lambda: [reader.events(r["run_id"]) for r in reader.runs()],
        ):
            try:
                out.append(call())
            except Exception as e:  # noqa: BLE001 - refusing is fine, executing is not
                out.append(repr(e))  # (not the exception: its frames hold open cursors)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_shadowed_channel_value_is_never_executed(store: Store, kind: str, tmp_path: Path) -> None:
    """A newer channel-value row for the latest checkpoint, pointing at a crafted blob."""
    sentinel = tmp_path / "SENTINEL"
    record_loop(store, "victim")
    url = store.url
    config = {"configurable": {"thread_id": "victim"}}
    latest = fetch(
        url,
        "SELECT gseq FROM lgaudit_checkpoints WHERE thread_id = 'victim' "
        "AND checkpoint_ns = '' ORDER BY gseq DESC",
    )[0][0]
    own = {
        r[0]
        for r in fetch(
            url, "SELECT channel FROM lgaudit_channel_values WHERE gseq = :g", {"g": latest}
        )
    }
    assert "input" not in own  # so "input" is served from an older row: shadow it
    version = AuditSaver(store).get_tuple(config).checkpoint["channel_versions"]["input"]

    ref = _insert_blob(url, crafted(kind, sentinel))
    insert_raw(
        url,
        "lgaudit_channel_values",
        {
            "gseq": latest,
            "channel": "input",
            "thread_id": "victim",
            "checkpoint_ns": "",
            "version": str(version),
            "ref": ref,
        },
    )
    results = _read_everything(url, config)

    assert not sentinel.exists(), f"stored {kind} payload was executed on load"
    tup = results[0]
    if kind not in REFUSED:
        # the shadow row is served (so the crafted blob really was decoded), inert
        assert tup.checkpoint["channel_values"]["input"] != "Quarterly financial report"
        assert "touch" in repr(tup.checkpoint["channel_values"]["input"])
    # and the planted row is caught by verify
    assert store.verify()["ok"] is False


def _plant_write(url: str, gseq: int, checkpoint_id: str, ref: str) -> None:
    """Insert (inserts are allowed) a pending write of thread 'victim' pointing at ``ref``."""
    row = {"gseq": gseq, "position": 0, "thread_id": "victim", "checkpoint_ns": "",
           "checkpoint_id": checkpoint_id, "task_id": "evil", "task_path": "", "idx": 0,
           "channel": "count", "ref": ref}  # fmt: skip
    insert_raw(url, "lgaudit_writes", row)


@pytest.mark.parametrize("kind", ["ext_pos_args", "json_lc2", "pickle"])
def test_planted_pending_write_is_never_executed(store: Store, kind: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    saver = AuditSaver(store)
    ids = put_chain(saver, "victim", 3)
    url = store.url
    last = fetch(url, "SELECT max(gseq) FROM lgaudit_events")[0][0]
    ref = _insert_blob(url, crafted(kind, sentinel))
    _plant_write(url, last + 1, ids[-1], ref)
    config = {"configurable": {"thread_id": "victim", "checkpoint_ns": ""}}
    with Store.open(url) as reader:
        reader_saver = AuditSaver(reader)
        for call in (lambda: reader_saver.get_tuple(config), lambda: list(reader_saver.list(None))):
            try:
                call()
            except Exception:  # noqa: BLE001 - refusing is fine, executing is not
                pass
    assert not sentinel.exists()


def test_planted_checkpoint_metadata_is_never_executed(store: Store, tmp_path: Path) -> None:
    """A whole new checkpoint row whose metadata blob carries a constructor extension."""
    sentinel = tmp_path / "SENTINEL"
    saver = AuditSaver(store)
    put_chain(saver, "victim", 2)
    url = store.url
    real = fetch(url, "SELECT * FROM lgaudit_checkpoints ORDER BY gseq DESC")[0]
    meta = ormsgpack.packb(
        {
            "source": "loop",
            "step": 7,
            "parents": {},
            "note": _ext(EXT_CONSTRUCTOR_POS_ARGS, ["os", "system", [f"touch {sentinel}"]]),
        }
    )
    meta_ref = _insert_blob(url, ("msgpack", meta))
    insert_raw(
        url,
        "lgaudit_checkpoints",
        {
            "gseq": real.gseq + 100,
            "thread_id": "victim",
            "checkpoint_ns": "",
            "checkpoint_id": "forged-checkpoint",
            "parent_checkpoint_id": real.checkpoint_id,
            "run_id": real.run_id,
            "checkpoint_ref": real.checkpoint_ref,
            "metadata_ref": meta_ref,
        },
    )
    with Store.open(url) as reader:
        tup = AuditSaver(reader).get_tuple({"configurable": {"thread_id": "victim"}})
    assert not sentinel.exists()
    assert tup.config["configurable"]["checkpoint_id"] == "forged-checkpoint"
    assert tup.metadata["note"] == [f"touch {sentinel}"]  # the inert arguments, not a call
    assert store.verify()["ok"] is False  # a state row outside the chain


@pytest.mark.parametrize("kind", REFUSED)
def test_refused_stored_value_is_a_store_error(store: Store, kind: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    saver = AuditSaver(store)
    ids = put_chain(saver, "victim", 1)
    url = store.url
    last = fetch(url, "SELECT max(gseq) FROM lgaudit_events")[0][0]
    ref = _insert_blob(url, crafted(kind, sentinel))
    _plant_write(url, last + 1, ids[-1], ref)
    with Store.open(url) as reader, pytest.raises(StoreError):
        AuditSaver(reader).get_tuple({"configurable": {"thread_id": "victim"}})
    assert not sentinel.exists()


# -- unserializable values become readable placeholders -----------------------------------


def _is_placeholder(value: Any, type_word: str) -> bool:
    return isinstance(value, dict) and type_word in value.get(PLACEHOLDER_KEY, "")


def test_unserializable_channel_values_become_placeholders(store: Store) -> None:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.base.id import uuid6

    saver = AuditSaver(store)
    lock = threading.Lock()
    items = [1, 2, 3, lambda x: x, 5, 6, 7, 8, 9]  # long list: stored element by element
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6())
    checkpoint["channel_values"] = {"lock": lock, "fn": lambda: 1, "items": items, "ok": "fine"}
    versions = {k: saver.get_next_version(None) for k in checkpoint["channel_values"]}
    checkpoint["channel_versions"] = dict(versions)
    config = saver.put(
        {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
        checkpoint,
        {"source": "loop", "step": 0, "parents": {}},
        versions,
    )
    saver.put_writes(config, [("lock", threading.RLock()), ("ok", "w")], task_id="task-1")

    with Store.open(store.url) as reader:
        tup = AuditSaver(reader).get_tuple({"configurable": {"thread_id": "t"}})
    values = tup.checkpoint["channel_values"]
    assert set(values) == {"lock", "fn", "items", "ok"}  # nothing dropped
    assert _is_placeholder(values["lock"], "lock")
    assert "repr" in values["lock"] and "error" in values["lock"]
    assert _is_placeholder(values["fn"], "function")
    assert values["items"][:3] == [1, 2, 3] and values["items"][4:] == [5, 6, 7, 8, 9]
    assert _is_placeholder(values["items"][3], "function")
    assert values["ok"] == "fine"
    writes = {ch: v for _task, ch, v in tup.pending_writes}
    assert _is_placeholder(writes["lock"], "RLock")
    assert writes["ok"] == "w"
    assert store.verify()["ok"]


class _HandleState(TypedDict):
    name: str
    handle: Any


def test_graph_state_with_a_lock_is_recorded_as_a_placeholder(store: Store) -> None:
    def open_handle(state: _HandleState) -> dict[str, Any]:
        return {"handle": threading.Lock(), "name": state["name"] + "!"}

    builder = StateGraph(_HandleState)
    builder.add_node("open", open_handle)
    builder.set_entry_point("open")
    builder.add_edge("open", END)
    graph = builder.compile(checkpointer=AuditSaver(store))
    config = {"configurable": {"thread_id": "h"}}
    result = graph.invoke({"name": "db", "handle": None}, config)
    assert result["name"] == "db!"  # the run itself is unaffected

    with Store.open(store.url) as reader:
        state = builder.compile(checkpointer=AuditSaver(reader)).get_state(config)
    assert state.values["name"] == "db!"
    assert _is_placeholder(state.values["handle"], "lock")
    assert store.verify()["ok"]


# -- element reuse never records a stale value -----------------------------------------------


def test_element_cache_reencodes_changed_values() -> None:
    """Encodings are reused for unchanged list elements only: a message whose field was
    reassigned, or a mutable dict changed in place, is serialized again."""
    from langchain_core.messages import AIMessage

    from lgaudit.codec.serialization import ElementCache, ValueCodec, safe_serializer

    codec = ValueCodec(safe_serializer(), elements=ElementCache())
    messages: list[Any] = [AIMessage(f"m{i}") for i in range(8)] + [{"n": 1}, "text"]

    def decoded() -> list[Any]:
        out: dict[str, Any] = {}
        ref = codec.encode(messages, out)
        return codec.decode(ref, out)

    first = decoded()
    assert [m.content for m in first[:8]] == [f"m{i}" for i in range(8)]
    messages[0].content = "rewritten"  # a reassigned field
    messages[8]["n"] = 2  # a dict changed in place (dicts are never reused)
    again = decoded()
    assert again[0].content == "rewritten" and again[8] == {"n": 2} and again[9] == "text"


def test_list_prefix_reuse_sees_a_changed_message_in_the_history() -> None:
    """A growing history reuses the encodings of its unchanged head, but a message in the
    middle of it whose field was reassigned is recorded with its new value, and a shorter
    list over the same messages reuses their encodings without confusing the two."""
    from langchain_core.messages import AIMessage, HumanMessage

    from lgaudit.codec.serialization import ElementCache, ValueCodec, safe_serializer

    codec = ValueCodec(safe_serializer(), elements=ElementCache())
    stored: dict[str, Any] = {}  # everything encoded so far, as the store would hold it

    def roundtrip(value: list[Any]) -> list[Any]:
        out: dict[str, Any] = {}
        ref = codec.encode(value, out)
        stored.update(out)
        return codec.decode(ref, stored)

    history: list[Any] = [HumanMessage(f"q{i}") for i in range(10)]
    assert [m.content for m in roundtrip(history)] == [f"q{i}" for i in range(10)]
    history = [*history, AIMessage("a10")]  # a reducer builds a new list around them
    history[4].content = "edited in the middle"
    assert [m.content for m in roundtrip(history)] == [
        *(f"q{i}" for i in range(4)), "edited in the middle", *(f"q{i}" for i in range(5, 10)),
        "a10",
    ]  # fmt: skip
    assert [m.content for m in roundtrip(history[:9])][4] == "edited in the middle"
    history[9].additional_kwargs = {"note": "late"}
    assert roundtrip(history)[9].additional_kwargs == {"note": "late"}


def test_a_long_history_is_stored_in_chunks_and_read_back_whole() -> None:
    """A growing list is recorded at every step; its manifest is kept in chunks, so each
    step stores a short root and its last chunk instead of a manifest as long as the
    history (which made storage quadratic), and every length reads back exactly."""
    from lgaudit.codec.serialization import ElementCache, ValueCodec, safe_serializer

    codec = ValueCodec(safe_serializer(), elements=ElementCache())
    stored: dict[str, Any] = {}
    manifest_bytes = 0
    history: list[Any] = []
    for step in range(1, 301):
        history = [*history, f"message {step} " + "x" * 300]
        out: dict[str, Any] = {}
        ref = codec.encode(history, out)
        manifest_bytes += sum(
            len(data) for h, (t, data) in out.items() if t != "msgpack" and h not in stored
        )
        stored.update(out)
        if step in (1, 63, 64, 65, 128, 129, 300):
            assert codec.decode(ref, stored) == history
    quadratic = sum(32 * n for n in range(1, 301))  # one flat manifest per step
    assert manifest_bytes < quadratic / 4, (manifest_bytes, quadratic)


def test_reused_list_encodings_match_a_fresh_encoding() -> None:
    """A history recorded step by step, then again out of order (a checkpoint written
    behind the graph, which has gone on to longer lists), a shorter list and the very same
    list once more: every root is the one a codec without any reuse computes."""
    from lgaudit.codec.serialization import ElementCache, ValueCodec, safe_serializer

    cached = ValueCodec(safe_serializer(), elements=ElementCache())
    plain = ValueCodec(safe_serializer())

    def root(codec: ValueCodec, value: list[Any]) -> str:
        return codec.encode(value, {})

    lists: list[list[Any]] = []
    history: list[Any] = []
    for step in range(1, 200):
        history = [*history, f"message {step} " + "y" * 300]
        lists.append(history)
        assert root(cached, history) == root(plain, history)
    for value in (lists[150], lists[70], lists[63], lists[198], lists[198], lists[10][:9]):
        assert root(cached, value) == root(plain, value)


def test_an_event_reusing_an_encoding_carries_the_blobs_not_yet_sent() -> None:
    """A list encoded again reuses the earlier encoding, but until the event that carried
    its blobs has been handed to the writer, the new event carries them too: whichever of
    the two is written first, what it refers to is in the store with it."""
    from lgaudit.codec.serialization import ElementCache, SentBlobs, ValueCodec, safe_serializer

    sent = SentBlobs()
    codec = ValueCodec(safe_serializer(), elements=ElementCache(), stored=sent)
    history: list[Any] = [f"message {i} " + "z" * 300 for i in range(100)]
    first: dict[str, Any] = {}
    ref = codec.encode(history, first)
    again: dict[str, Any] = {}
    assert codec.encode(history, again) == ref
    assert codec.decode(ref, again) == history  # on its own: the first is not sent yet
    longer = [*history, "one more"]
    grown: dict[str, Any] = {}
    assert codec.decode(codec.encode(longer, grown), grown) == longer

    sent.update(first)
    sent.update(grown)  # both handed to the writer: the next event carries only what is new
    newest = [*longer, "and another"]
    out: dict[str, Any] = {}
    root = codec.encode(newest, out)
    assert not set(out) & set(first) - {root}
    assert codec.decode(root, {**first, **grown, **out}) == newest


def test_a_long_history_recorded_at_every_step_holds_bounded_memory() -> None:
    """Encodings are remembered for reuse, but not without bound: a 20,000-message history
    recorded at each of 60 steps keeps a few copies of it, not one per step."""
    import tracemalloc

    from lgaudit.codec.serialization import ElementCache, ValueCodec, safe_serializer

    codec = ValueCodec(safe_serializer(), elements=ElementCache())
    history: list[Any] = [f"m{i}" for i in range(20_000)]
    codec.encode(history, {})
    tracemalloc.start()
    try:
        for step in range(60):
            history = [*history, f"step {step}"]
            codec.encode(history, {})
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    one_copy = 20_000 * (8 + 32)  # a list of references and its manifest
    assert held < 20 * one_copy, (held, one_copy)


class _History(TypedDict, total=False):
    history: Annotated[list[str], operator.add]


def test_a_sink_of_ones_own_gets_events_that_carry_their_blobs(store: Store) -> None:
    """``AuditSaver`` takes any sink with ``submit``/``flush``. One that holds events and
    appends them later says nothing about what it has taken, so no event leaves out a blob
    that is not committed yet: once flushed, the whole growing history reads back."""

    class Deferred:
        def __init__(self) -> None:
            self.held: list[Any] = []

        def submit(self, events: list[Any]) -> None:
            self.held.extend(events)

        def flush(self, timeout: float | None = None) -> None:
            store.append(self.held)
            self.held = []

    sink = Deferred()
    builder = StateGraph(_History)
    builder.add_node("grow", lambda s: {"history": [f"entry {len(s['history'])} " + "h" * 300]})
    builder.add_edge("__start__", "grow")
    builder.add_conditional_edges("grow", lambda s: END if len(s["history"]) >= 12 else "grow")
    graph = builder.compile(checkpointer=AuditSaver(store, sink=sink))
    config = {"configurable": {"thread_id": "own-sink"}}
    graph.invoke({"history": []}, config)
    assert sink.held  # nothing written yet
    sink.flush(None)
    history = graph.get_state(config).values["history"]
    assert [h.split()[1] for h in history] == [str(i) for i in range(12)]
    assert store.verify()["ok"]
