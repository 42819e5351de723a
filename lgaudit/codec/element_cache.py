"""Caches of encoded values: elements the codec reuses across steps, blob hashes already sent."""

from __future__ import annotations

import bisect
import itertools
import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, NamedTuple

from langchain_core.messages import BaseMessage

from lgaudit.store.blobs import (
    Blob,
    to_jsonable,  # noqa: F401  (re-exported)
)

_IMMUTABLE = (str, bytes, int, float, bool, type(None))


class ElementCache:
    """Encodings of list elements by object identity.

    A growing message list keeps the same element objects from step to step (reducers
    build a new list around them), and the same messages are recorded as checkpoint values,
    node inputs and model requests, so each element is serialized and hashed once.
    Immutable values (str, numbers) are reused as long as the object is; a LangChain
    message is reused only while every top-level field is still the same object (a field
    that was reassigned — new content, new tool calls — serializes it again; a change made
    inside a field's own dict or list in place is not seen). Entries hold the object, so its
    id cannot be reused while cached.

    Whole lists are remembered too: a list that starts with the very objects of the last
    list remembered with the same first element reuses that list's manifest for them —
    immutable elements as they are, messages while their fields are unchanged.

    Entries are kept in the order they were last added; ``mark()`` and ``trim(mark)``
    release those older than a mark (the recorder trims, at each run's end, what no run in
    progress may still reuse). Bounds besides: ``max_items`` elements, 1,000 lists by
    first element, and ``_WHOLE_MAX`` lists by their own id.
    """

    def __init__(self, max_items: int = 50_000) -> None:
        self._items: OrderedDict[int, tuple[Any, Any, tuple[str, Blob], int]] = OrderedDict()
        self._lists: OrderedDict[int, _ListEntry] = OrderedDict()
        self._whole: OrderedDict[int, _ListEntry] = OrderedDict()
        self._whole_items = 0  # elements held by the entries of ``_whole``
        self._max = max_items
        self._lock = threading.Lock()
        self._tick = 0  # counts additions: an entry's tick says when it was added
        self.masked: set[str] = set()  # hashes of element blobs redaction made

    def get(self, obj: Any) -> tuple[str, Blob] | None:
        entry = self._items.get(id(obj))
        if entry is None or entry[0] is not obj or entry[1] != _fingerprint(obj):
            return None
        return entry[2]

    def get_immutable(self, obj: Any) -> tuple[str, Blob] | None:
        """``get`` for a str, bytes, number or None (no fields to compare)."""
        entry = self._items.get(id(obj))
        return entry[2] if entry is not None and entry[0] is obj else None

    def add(self, obj: Any, encoded: tuple[str, Blob]) -> None:
        with self._lock:
            self._tick += 1
            self._items.pop(id(obj), None)
            self._items[id(obj)] = (obj, _fingerprint(obj), encoded, self._tick)
            if len(self._items) > self._max:
                self._items.popitem(last=False)

    def mark(self) -> int:
        """Now, for ``trim``: entries added from here on are newer than the mark."""
        return self._tick

    def trim(self, mark: int) -> None:
        """Forget the entries last added before ``mark`` (everything when nothing is newer).
        A forgotten entry only means its value is encoded again."""
        with self._lock:
            items, lists, whole = self._items, self._lists, self._whole
            while items and next(iter(items.values()))[3] <= mark:
                items.popitem(last=False)
            while lists and next(iter(lists.values())).tick <= mark:
                lists.popitem(last=False)
            while whole and next(iter(whole.values())).tick <= mark:
                self._whole_items -= len(whole.popitem(last=False)[1].objs)
            if not (items or lists or whole):
                self.masked.clear()

    def bookkeeping(self) -> dict[str, int]:
        """Sizes of what the cache holds (for tests and diagnostics)."""
        return {
            "elements.items": len(self._items),
            "elements.lists": len(self._lists),
            "elements.whole": len(self._whole),
            "elements.masked": len(self.masked),
        }

    def prefix(self, value: list[Any]) -> tuple[int, bytes, _Fields, _ListEntry | None]:
        """``(k, digests, fields, entry)``: ``value[:k]`` are the very objects (unchanged
        since) at the head of ``entry``, the last list remembered with the same first
        element; ``digests`` is their manifest part and ``fields`` the snapshots of the
        messages among them."""
        entry = self._whole.get(id(value))  # this very list, encoded before
        if entry is None or len(entry.objs) != len(value) or entry.objs[0] is not value[0]:
            entry = self._lists.get(id(value[0]))
            if entry is None or entry.objs[0] is not value[0]:
                return 0, b"", _NO_FIELDS, None
        if not all(map(operator.is_, value, entry.objs)):  # over the shorter of the two
            return 0, b"", _NO_FIELDS, None
        k, fields = min(entry.reusable, len(value)), entry.fields
        if k < entry.reusable:
            cut = bisect.bisect_left(fields.positions, k)
            fields = _Fields(fields.positions[:cut], fields.dicts[:cut], fields.snaps[:cut])
        if fields.snaps:
            now = [tuple(d.values()) for d in fields.dicts]
            if now != fields.snaps:  # a message field was reassigned: reuse up to it
                pairs = enumerate(zip(now, fields.snaps, strict=True))
                bad = next(i for i, (a, b) in pairs if a != b)
                k = fields.positions[bad]
                fields = _Fields(fields.positions[:bad], fields.dicts[:bad], fields.snaps[:bad])
        return k, entry.manifest[: 32 * k], fields, entry

    def remember(
        self, value: list[Any], manifest: bytes, known: int, fields: _Fields, encoded: _Encoded
    ) -> None:
        """Remember a list's elements, manifest and encoding; ``value[:known]`` were reused
        from the list ``prefix`` matched, with ``fields`` the snapshots of its messages."""
        positions, dicts, snaps = list(fields.positions), list(fields.dicts), list(fields.snaps)
        reusable = known
        for item in value[known:]:
            if type(item) not in _IMMUTABLE:
                if not isinstance(item, BaseMessage):
                    break
                positions.append(reusable)
                dicts.append(item.__dict__)
                snaps.append(tuple(item.__dict__.values()))
            reusable += 1
        with self._lock:
            self._tick += 1
            entry = _ListEntry(
                list(value), manifest, reusable, _Fields(positions, dicts, snaps), *encoded,
                tick=self._tick,
            )  # fmt: skip
            self._lists.pop(id(value[0]), None)
            self._lists[id(value[0])] = entry
            if len(self._lists) > 1_000:
                self._lists.popitem(last=False)
            # by the list's own id too: a list recorded again (a checkpoint written behind
            # the graph, which has gone on to longer lists) is found whole; bounded by count
            # and by elements held, since each entry keeps its own copy and manifest
            old = self._whole.pop(id(value), None)
            self._whole_items += len(value) - (len(old.objs) if old is not None else 0)
            self._whole[id(value)] = entry
            while len(self._whole) > _WHOLE_MAX or self._whole_items > _WHOLE_ITEMS:
                _, dropped = self._whole.popitem(last=False)
                self._whole_items -= len(dropped.objs)

    def clear(self) -> None:
        """Forget everything (after a failed write, blobs remembered may not be stored)."""
        with self._lock:
            self._items.clear()
            self._lists.clear()
            self._whole.clear()
            self._whole_items = 0
            self.masked.clear()


#: Lists remembered by their own id: a checkpoint thread runs a few steps behind the graph,
#: so a few dozen cover it; at most this many elements are held by them all.
_WHOLE_MAX = 32
_WHOLE_ITEMS = 200_000


class _Fields(NamedTuple):
    """The messages of a remembered list: position, ``__dict__`` and its values then."""

    positions: list[int]
    dicts: list[dict[str, Any]]
    snaps: list[tuple[Any, ...]]


_NO_FIELDS = _Fields([], [], [])


class _Encoded(NamedTuple):
    """How a remembered list was encoded."""

    chunks: list[str]  # hashes of its manifest's chunks (a long list), else empty
    root: str  # the list's hash
    fresh: list[tuple[str, Blob]]  # its blobs the store was not known to hold then
    masked: bool = False  # redaction changed one of its elements


class _ListEntry(NamedTuple):
    objs: list[Any]
    manifest: bytes
    reusable: int  # leading elements whose digests may be reused (immutables, messages)
    fields: _Fields
    chunks: list[str]
    root: str
    fresh: list[tuple[str, Blob]]
    masked: bool = False
    tick: int = 0  # when it was remembered (``ElementCache.trim``)


def _fingerprint(obj: Any) -> Any:
    fields = getattr(obj, "__dict__", None)
    return None if fields is None else tuple(map(id, fields.values()))


class SentBlobs:
    """Hashes of blobs handed to an ordered writer (bounded, oldest forgotten first).

    A writer that commits events in the order they were submitted has every blob of an
    event submitted earlier in the store no later than a later event: the later event may
    refer to those blobs without carrying them. A forgotten hash only means a blob travels
    again, which the store skips."""

    def __init__(self, max_items: int = 10_000) -> None:
        self._keys: dict[str, None] = {}
        self._max = max_items

    def __contains__(self, h: object) -> bool:
        return h in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def update(self, hashes: Iterable[str]) -> None:
        keys = self._keys
        keys.update(dict.fromkeys(hashes))
        if len(keys) > self._max:
            for old in list(itertools.islice(keys, len(keys) - self._max // 2)):
                keys.pop(old, None)
