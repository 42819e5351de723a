"""``show``/``diff``/``audit`` read values through ``ValueViews``, which decodes LangGraph's
msgpack without LangGraph: every view must be exactly ``to_jsonable`` of what the safe
serializer loads, for the types it handles itself and for those it hands back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.types import Interrupt, Send

from lgaudit.codec.decode import INTERRUPT_FIELDS, ValueViews
from lgaudit.codec.serialization import ValueCodec, safe_serializer
from lgaudit.store.blobs import to_jsonable


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Ticket:  # not on the allowlist: comes back as its fields
    id: int
    tags: set[str]


AI = AIMessage(
    "",
    tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "c1"}],
    usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
    response_metadata={"model_name": "fake"},
    id="ai-1",
)
VALUES: list[Any] = [
    None,
    "text",
    b"\x00\x01",
    {"a": 1, 2: "non-str key", "nested": {"when": dt.datetime(2026, 1, 2, 3, 4, 5)}},
    [HumanMessage("hi", id="h"), AI, ToolMessage("r", tool_call_id="c1", name="lookup")],
    [SystemMessage("s")] * 9,  # a long list: stored element by element
    {"messages": [HumanMessage("x" * 300)], "n": 1},  # a dict holding a split list
    AIMessageChunk("c", id="k"),
    RemoveMessage(id="h"),
    Document("doc", metadata={"source": "s"}),
    dt.date(2026, 5, 6),
    dt.time(7, 8, 9),
    dt.timedelta(days=1, seconds=2),
    dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("1.50"),
    {1, 2, 3},
    frozenset({"a"}),
    deque([1, 2]),
    Path("/tmp/x"),
    Interrupt(value={"question": "approve?"}, id="i-1"),
    [Interrupt(value="v", id="i-2")],
    Send("node", {"arg": 1}),
    Color.RED,
    Ticket(1, {"x"}),
    (1, "tuple"),
    float("nan"),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_view_is_the_safe_serializers_view(value: Any) -> None:
    codec = ValueCodec(safe_serializer())
    blobs: dict[str, Any] = {}
    ref = codec.encode(value, blobs)
    expected = to_jsonable(codec.decode(ref, blobs))
    # the same JSON text, key order included (what show and export print)
    assert json.dumps(ValueViews().view(ref, blobs)) == json.dumps(expected)


def test_interrupt_fields_are_langgraphs() -> None:
    assert tuple(f.name for f in dataclasses.fields(Interrupt)) == INTERRUPT_FIELDS
