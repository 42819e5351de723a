"""Stored blobs without LangGraph: their types, content addresses, manifests, a cache, and
a JSON view of decoded values.

Everything a reader of the store needs besides decoding itself lives here, free of
LangGraph and LangChain imports, so verbs that only read the store start fast.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from lgaudit.errors import StoreError

#: Blob type of a list stored element by element: data is the elements' 32-byte SHA-256
#: digests, concatenated in order.
LIST_TYPE = "lgaudit.list"
#: Blob type of a long list: data is the digests of its chunks, each a ``LIST_TYPE`` blob
#: of up to ``_CHUNK`` element digests (every chunk but the last is full).
CHUNKS_TYPE = "lgaudit.chunks"
#: Blob type of a dict holding large lists: data is a JSON object of key -> value hash.
DICT_TYPE = "lgaudit.dict"
#: Blob type marking a channel that has no value at a version (emptied channel).
EMPTY_TYPE = "empty"
#: Type tag inside a placeholder for a value that could not be serialized.
PLACEHOLDER_KEY = "__lgaudit_unserializable__"

Blob = tuple[str, bytes]  # (type, data)


def blob_hash(type_: str, data: bytes) -> str:
    """The content address of a blob: SHA-256 over its type and bytes."""
    h = hashlib.sha256(type_.encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


def digests(data: bytes) -> list[str]:
    """The 32-byte SHA-256 digests a list manifest concatenates, as hex."""
    text = data.hex()
    return [text[i : i + 64] for i in range(0, len(text), 64)]


def is_internal_channel(name: str) -> bool:
    """LangGraph's bookkeeping channels (``__start__``, ``branch:to:x``…), not user state."""
    return name.startswith("__") or ":" in name


def children(blob: Blob) -> list[str]:
    """Hashes a blob refers to (the parts of a list or dict manifest)."""
    if blob[0] in (LIST_TYPE, CHUNKS_TYPE):
        return digests(blob[1])
    if blob[0] == DICT_TYPE:
        return list(json.loads(blob[1]).values())
    return []


def get_blob(blobs: Mapping[str, Blob], ref: str) -> Blob:
    try:
        return blobs[ref]
    except KeyError:
        raise StoreError(f"store is missing blob {ref[:12]}: the database is damaged") from None


class BlobCache:
    """A bounded LRU of immutable blobs by hash (content-addressed, so never stale): at most
    ``max_bytes`` of data and ``max_items`` blobs."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, max_items: int = 10_000) -> None:
        self._items: OrderedDict[str, Blob] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self._max_items = max_items

    def __len__(self) -> int:
        return len(self._items)

    def get_many(self, hashes: Iterable[str]) -> tuple[dict[str, Blob], list[str]]:
        found: dict[str, Blob] = {}
        missing: list[str] = []
        for h in hashes:
            blob = self._items.get(h)
            if blob is None:
                missing.append(h)
            else:
                self._items.move_to_end(h)
                found[h] = blob
        return found, missing

    def __contains__(self, h: object) -> bool:
        return h in self._items

    def add(self, h: str, blob: Blob) -> None:
        if h in self._items:
            return
        self._items[h] = blob
        self._bytes += len(blob[1])
        while (self._bytes > self._max or len(self._items) > self._max_items) and self._items:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old[1])


def short_repr(value: Any, limit: int = 200) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not lose the event
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-safe, readable view of any state value (for events, show, diff and audit)."""
    if _depth > 40:
        return {"__type__": type(value).__qualname__, "repr": short_repr(value)}
    d = _depth + 1
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict | Mapping):
        return {str(k): to_jsonable(v, d) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v, d) for v in items]
    if isinstance(value, bytes):
        return {"__type__": "bytes", "base64": base64.b64encode(value[:4096]).decode()}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, d)
    if isinstance(value, BaseException):
        return {"__type__": "error", "type": type(value).__name__, "message": str(value)}
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        try:
            return to_jsonable(model_dump(), d)
        except Exception:  # noqa: BLE001 - fall through to the generic view
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), d) for f in dataclasses.fields(value)}
    if type(value).__name__ == "Send":
        return {"__type__": "Send", "node": value.node, "arg": to_jsonable(value.arg, d)}
    return {
        "__type__": f"{type(value).__module__}.{type(value).__qualname__}",
        "repr": short_repr(value),
    }
