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
import itertools
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


#: ``to_jsonable`` cuts a value off below this nesting level (see ``lgaudit.store.blobs``)
_MAX_DEPTH = 40


class ValueViews:
    """Decodes stored values into their JSON views (``to_jsonable`` of the loaded value).

    Blobs are content-addressed, so a view is decoded once per address: the elements of
    a list (a state's growing ``messages``), its full chunks, the list itself, are decoded
    the first time anything holds them, and every later value holding them holds the same
    objects (where they sit in the whole value does not change them unless it is nested
    past ``to_jsonable``'s depth limit). Equal addresses give one object: readers may take
    ``x is y`` for equal views, and must not change a view in place."""

    def __init__(self) -> None:
        self._codec: Any = None  # the safe serializer's codec, made on the first value it needs
        self._miss = False
        #: ref -> (view, height, depth it was made at)
        self._views: dict[str, tuple[Any, int, int]] = {}

    def view(self, ref: str, blobs: Mapping[str, Blob], depth: int = 0) -> Any:
        """The view of the value ``ref`` (``blobs`` holds it and its parts); ``depth`` is
        where ``to_jsonable`` of the whole value would meet it."""
        return self._view(ref, blobs, depth)[0]

    def _view(self, ref: str, blobs: Mapping[str, Blob], depth: int) -> tuple[Any, int]:
        """A view and its height (the nesting level of its deepest part)."""
        found = self._views.get(ref)
        if found is not None:
            view, height, made = found
            if made == depth or (
                made + height <= _MAX_DEPTH and depth + height <= _MAX_DEPTH
            ):  # neither was cut off: the same view
                return view, height
        blob = get_blob(blobs, ref)
        if blob[0] == LIST_TYPE or blob[0] == CHUNKS_TYPE:
            parts = digests(blob[1])
            if blob[0] == CHUNKS_TYPE:  # each chunk a list: their elements, in order
                chunks, height = self._elements(parts, blobs, depth)
                out: list[Any] = list(itertools.chain.from_iterable(chunks))
                height = max(0, height - 1)  # the chunks' own height, not a list of them
            else:
                out, height = self._elements(parts, blobs, depth + 1)
            result: tuple[Any, int] = (out, height)
        elif blob[0] == DICT_TYPE:
            refs = json.loads(blob[1])
            items = [self._view(r, blobs, depth + 1) for r in refs.values()]
            view = {str(k): v for k, (v, _) in zip(refs, items, strict=True)}
            result = (view, 1 + max((h for _, h in items), default=-1))
        else:
            leaf = self._leaf(blob, depth)
            result = (leaf, _height(leaf))
        if found is None:
            self._views[ref] = (*result, depth)
        return result

    def _elements(
        self, refs: list[str], blobs: Mapping[str, Blob], depth: int
    ) -> tuple[list[Any], int]:
        """The views of a list's elements at ``depth``, and the list's height (``_view``
        for each, its cache lookup inlined: a list mostly holds elements seen before)."""
        views, out, deepest = self._views, [], -1
        for r in refs:
            found = views.get(r)
            if found is not None and (
                found[2] == depth
                or (found[2] + found[1] <= _MAX_DEPTH and depth + found[1] <= _MAX_DEPTH)
            ):
                view, height = found[0], found[1]
            else:
                view, height = self._view(r, blobs, depth)
            out.append(view)
            if height > deepest:
                deepest = height
        return out, 1 + deepest

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


def _height(value: Any) -> int:
    """The nesting level of a JSON value's deepest part (0 for a scalar)."""
    if isinstance(value, dict):
        return 1 + max((_height(v) for v in value.values()), default=-1)
    if isinstance(value, list):
        return 1 + max((_height(v) for v in value), default=-1)
    return 0
