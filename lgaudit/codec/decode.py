"""JSON views of stored values, decoded without LangGraph when the value allows it.

``show``, ``diff`` and ``audit`` need the JSON view of a value (``to_jsonable`` of what the
safe serializer loads), not the value. Values are LangGraph's msgpack: the types it revives
in strict mode that are the standard library's (datetime, UUID, Decimal, set, Path…) are
revived here the same way; LangChain messages and documents — stored as their
``model_dump()``, which rebuilding the object and dumping it again gives back unchanged —
are kept as that dump, and an ``Interrupt`` as its fields. Any other value (another
LangGraph type, a type the allowlist refuses, a non-msgpack blob) is decoded by the safe
serializer itself, so every view is exactly the one it gives; only then is LangGraph
imported.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Mapping
from typing import Any

import ormsgpack

from lgaudit.store.blobs import (
    CHUNKS_TYPE,
    DICT_TYPE,
    LIST_TYPE,
    Blob,
    digests,
    get_blob,
    to_jsonable,
)

# LangGraph's ext codes (langgraph/checkpoint/serde/jsonplus.py)
_CONSTRUCTOR_SINGLE_ARG, _CONSTRUCTOR_POS_ARGS, _CONSTRUCTOR_KW_ARGS = 0, 1, 2
_METHOD_SINGLE_ARG, _PYDANTIC_V2 = 3, 5

#: Standard-library types LangGraph's strict msgpack revives (its ``SAFE_MSGPACK_TYPES``).
_STDLIB = frozenset(
    {
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("uuid", "UUID"),
        ("decimal", "Decimal"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("collections", "deque"),
        ("ipaddress", "IPv4Address"),
        ("ipaddress", "IPv4Interface"),
        ("ipaddress", "IPv4Network"),
        ("ipaddress", "IPv6Address"),
        ("ipaddress", "IPv6Interface"),
        ("ipaddress", "IPv6Network"),
        ("pathlib", "Path"),
        ("pathlib", "PosixPath"),
        ("pathlib", "WindowsPath"),
        ("zoneinfo", "ZoneInfo"),
        ("re", "compile"),
    }
)
#: LangChain models it revives, whose view is their stored ``model_dump()``.
_DUMPED = frozenset(
    {
        *(
            (f"langchain_core.messages.{module}", f"{name}{chunk}")
            for module, name in (
                ("base", "BaseMessage"),
                ("human", "HumanMessage"),
                ("ai", "AIMessage"),
                ("system", "SystemMessage"),
                ("chat", "ChatMessage"),
                ("tool", "ToolMessage"),
                ("function", "FunctionMessage"),
            )
            for chunk in ("", "Chunk")
        ),
        ("langchain_core.messages.modifier", "RemoveMessage"),
        ("langchain_core.documents.base", "Document"),
    }
)


#: ``langgraph.types.Interrupt``, a dataclass whose view is its fields in order: stored with
#: exactly these, it is rebuilt with them unchanged (tests pin them to LangGraph's).
INTERRUPT = ("langgraph.types", "Interrupt")
INTERRUPT_FIELDS = ("value", "id", "response_schema")


class ValueViews:
    """Decodes stored values into their JSON views (``to_jsonable`` of the loaded value)."""

    def __init__(self) -> None:
        self._codec: Any = None  # the safe serializer's codec, made on the first value it needs
        self._miss = False

    def view(self, ref: str, blobs: Mapping[str, Blob], depth: int = 0) -> Any:
        """The view of the value ``ref`` (``blobs`` holds it and its parts); ``depth`` is
        where ``to_jsonable`` of the whole value would meet it."""
        blob = get_blob(blobs, ref)
        if blob[0] == LIST_TYPE:
            return [self._leaf(get_blob(blobs, r), depth + 1) for r in digests(blob[1])]
        if blob[0] == CHUNKS_TYPE:
            parts = [digests(get_blob(blobs, c)[1]) for c in digests(blob[1])]
            return [self._leaf(get_blob(blobs, r), depth + 1) for part in parts for r in part]
        if blob[0] == DICT_TYPE:
            refs = json.loads(blob[1])
            return {str(k): self.view(r, blobs, depth + 1) for k, r in refs.items()}
        return self._leaf(blob, depth)

    def _leaf(self, blob: Blob, depth: int) -> Any:
        type_, data = blob
        if type_ == "msgpack":
            self._miss = False
            try:
                value = ormsgpack.unpackb(
                    data, ext_hook=self._ext, option=ormsgpack.OPT_NON_STR_KEYS
                )
            except Exception:  # noqa: BLE001 - corrupt or unusual: the serializer decides
                self._miss = True
            if not self._miss:
                return to_jsonable(value, depth)
        elif type_ == "null":
            return None
        elif type_ == "bytes":
            return to_jsonable(data, depth)
        return to_jsonable(self._serializer().loads(blob), depth)

    def _ext(self, code: int, data: bytes) -> Any:
        tup = ormsgpack.unpackb(data, ext_hook=self._ext, option=ormsgpack.OPT_NON_STR_KEYS)
        try:
            key = (tup[0], tup[1])
            if code == _PYDANTIC_V2 and key in _DUMPED:
                return tup[2]
            if (
                code == _CONSTRUCTOR_KW_ARGS
                and key == INTERRUPT
                and tuple(tup[2]) == INTERRUPT_FIELDS
            ):
                return tup[2]
            if key in _STDLIB:
                cls = getattr(importlib.import_module(tup[0]), tup[1])
                if code == _CONSTRUCTOR_SINGLE_ARG:
                    return cls(tup[2])
                if code == _CONSTRUCTOR_POS_ARGS:
                    return cls(*tup[2])
                if code == _CONSTRUCTOR_KW_ARGS:
                    return cls(**tup[2])
            if code == _METHOD_SINGLE_ARG and (*key, tup[3]) == (
                "datetime",
                "datetime",
                "fromisoformat",
            ):
                return dt.datetime.fromisoformat(tup[2])
        except Exception:  # noqa: BLE001 - LangGraph has its own fallbacks for these
            pass
        self._miss = True
        return None

    def _serializer(self) -> Any:
        if self._codec is None:
            from lgaudit.codec.serialization import ValueCodec, safe_serializer

            self._codec = ValueCodec(safe_serializer())
        return self._codec
