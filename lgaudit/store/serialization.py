"""Serialization: safe value encoding into content-addressed blobs (``blobs`` holds what
reading them needs without LangGraph).

Values go through LangGraph's ``JsonPlusSerializer`` with pickle off and strict msgpack:
loading only revives the safe built-in types, the types a compiled graph allowlists through
``with_allowlist`` and, for the checkpointer, the types this process itself serialized — a
stored payload naming any other constructor is never called.
A value that cannot be encoded is stored as a typed, readable placeholder, never dropped.

Large lists (a growing message history), and lists holding messages or long text, are
stored as a manifest of per-element blobs, so appending one message stores one new element,
not the whole list again, and a message recorded as a node output, a write and a checkpoint
value is serialized once.
"""

from __future__ import annotations

import bisect
import itertools
import json
import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import ormsgpack
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.jsonplus import (  # LangGraph's private encoder parts
    JsonPlusSerializer,
    _create_msgpack_ext_hook,
    _msgpack_default,
)
from langgraph.checkpoint.serde.jsonplus import _option as _MSGPACK_OPTION

from lgaudit.errors import StoreError
from lgaudit.store.blobs import (
    CHUNKS_TYPE,
    DICT_TYPE,
    EMPTY_TYPE,
    LIST_TYPE,
    PLACEHOLDER_KEY,
    Blob,
    BlobCache,
    blob_hash,
    children,
    digests,
    get_blob,
    is_internal_channel,
    short_repr,
    to_jsonable,  # noqa: F401  (re-exported)
)

_LIST_MIN = 8
_LONG_TEXT = 256
_CHUNK = 64
_CHUNK_BYTES = 32 * _CHUNK


def safe_serializer(*, revive_written: bool = False) -> JsonPlusSerializer:
    """LangGraph's serializer with pickle off and the strict msgpack allowlist.

    ``revive_written`` (the checkpointer's) also revives the types this process itself
    wrote: a graph reading its state back gets its own objects (a pydantic state, an
    ``AgentAction``), as from LangGraph's savers. A type is noted only once this process has
    serialized one of its instances (so it has imported it): a stored value naming any
    other type still loads as plain data, never by calling its constructor."""
    if revive_written:
        return _RevivingSerializer()
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


#: ``(module, name)`` of each type this process serialized (and the types its fields name).
_WRITTEN: set[tuple[str, ...]] = set()
_WRITTEN_CLASSES: set[type] = set()


def _note_written(cls: type) -> None:
    keys: set[tuple[str, ...]] = {(cls.__module__, cls.__name__)}
    try:  # the types its fields declare (nested values are encoded out of our sight)
        from langgraph._internal._serde import collect_allowlist_from_schemas

        keys |= collect_allowlist_from_schemas(schemas=[cls])
    except Exception:  # noqa: BLE001 - not a schema LangGraph can walk: the type alone
        pass
    _WRITTEN.update(keys)
    _WRITTEN_CLASSES.add(cls)


def _noting_default(obj: Any) -> Any:
    """LangGraph's msgpack encoding of a non-native value, noting its type once it encoded."""
    encoded = _msgpack_default(obj)
    if type(obj) not in _WRITTEN_CLASSES:
        _note_written(type(obj))
    return encoded


class _Allowed(set):  # type: ignore[type-arg]
    """A strict allowlist that also holds every type this process wrote (``_WRITTEN``)."""

    def __contains__(self, key: object) -> bool:
        return set.__contains__(self, key) or key in _WRITTEN


class _RevivingSerializer(JsonPlusSerializer):
    """Strict msgpack, pickle off; revives its allowlist and the types this process wrote."""

    def __init__(self) -> None:
        super().__init__(pickle_fallback=False, allowed_msgpack_modules=None)
        self._unpack_ext_hook = _create_msgpack_ext_hook(_Allowed())

    def with_msgpack_allowlist(self, extra_allowlist: Iterable[Any]) -> JsonPlusSerializer:
        clone = super().with_msgpack_allowlist(extra_allowlist)
        if clone is not self:
            allowed = clone._allowed_msgpack_modules
            clone._unpack_ext_hook = _create_msgpack_ext_hook(
                _Allowed(allowed if isinstance(allowed, set) else ())
            )
        return clone

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is None or isinstance(obj, (bytes, bytearray)):
            return super().dumps_typed(obj)
        # the bytes of ``JsonPlusSerializer.dumps_typed`` (the same encoder and options)
        return "msgpack", ormsgpack.packb(obj, default=_noting_default, option=_MSGPACK_OPTION)


#: ``json.dumps(obj, sort_keys=True)``, the text of a ``DICT_TYPE`` blob, without building
#: an encoder per call.
_DICT_JSON = json.JSONEncoder(sort_keys=True).encode


class ValueCodec:
    """Encodes values into content-addressed blobs and decodes them back, safely."""

    def __init__(
        self,
        serde: Any,
        redactor: Any = None,
        elements: ElementCache | None = None,
        stored: BlobCache | SentBlobs | None = None,
    ) -> None:
        self.serde = serde
        self.redactor = redactor
        self.elements = elements
        # blobs an event may refer to without carrying them: committed, or handed to an
        # ordered writer in an event submitted before (content-addressed: never stale)
        self.stored = stored
        # how many values redaction changed so far (reused encodings of masked values
        # included): a caller compares it before and after encoding a value
        self.masked = 0
        self._masked_blobs: set[str] = elements.masked if elements is not None else set()

    def dumps(self, value: Any) -> Blob:
        """Serialize one value (redacted first when a redactor is set and the bytes hint at
        a secret); an unserializable value becomes a readable placeholder."""
        blob = self._dumps(value)
        redactor = self.redactor
        if redactor is not None and (
            redactor.needs_text(value) if type(value) is str else redactor.needs(blob[1])
        ):
            masked = redactor.redact(value)
            if masked is not value:
                blob = self._dumps(masked)
                self.masked += 1
        return blob

    def _dumps(self, value: Any) -> Blob:
        try:
            return self.serde.dumps_typed(value)
        except Exception as e:  # noqa: BLE001 - anything the serializer rejects
            placeholder = {
                PLACEHOLDER_KEY: f"{type(value).__module__}.{type(value).__qualname__}",
                "repr": short_repr(value),
                "error": f"{type(e).__name__}: {e}"[:300],
            }
            return self.serde.dumps_typed(placeholder)

    def loads(self, blob: Blob) -> Any:
        """Deserialize safely; a value the safe serializer refuses is a ``StoreError``."""
        try:
            return self.serde.loads_typed(blob)
        except Exception as e:  # noqa: BLE001 - refused (pickle, constructor) or corrupt
            key = blob_hash(*blob)[:12]
            raise StoreError(
                f"stored value {key} ({blob[0]}) cannot be decoded safely: {type(e).__name__}: {e}"
            ) from e

    def encode(self, value: Any, out: dict[str, Blob]) -> str:
        """Add the blobs of ``value`` to ``out`` (hash -> blob) and return its root hash."""
        kind = type(value)
        if kind in _IMMUTABLE:
            return self._element(value, out)
        if kind is list and is_split_list(value):
            return self.encode_list(value, out)
        if isinstance(value, BaseMessage):
            return self._element(value, out)
        if kind is dict and is_split_dict(value):
            return self.encode_dict(value, out)
        return self._put(self.dumps(value), out)

    def encode_list(self, value: list[Any], out: dict[str, Blob]) -> str:
        """``encode`` of a list element by element (``is_split_list``).

        A list that starts with the elements of a list encoded before (a growing history)
        reuses that encoding for them: their digests, the full chunks of its manifest, and
        its root when the list is the very same. Blobs of that earlier encoding the store
        may not hold yet travel again with this one, so every event carries what it refers
        to even if it is written first."""
        cache = self.elements
        if cache is None or len(value) < _LIST_MIN:
            manifest = b"".join([bytes.fromhex(self._element(item, out)) for item in value])
            return self._root(manifest, [], 0, out, None)[0]
        k, head, fields, entry = cache.prefix(value)
        fresh: list[tuple[str, Blob]] = []
        masked_before = self.masked
        if entry is not None:
            if entry.masked:
                self.masked += 1  # it reuses a list that held a masked element
            fresh = [hb for hb in entry.fresh if self._unsent(hb[0])]
            for h, blob in fresh:
                out[h] = blob
            if k == len(value) == len(entry.objs):
                entry.fresh[:] = fresh  # the very list, unchanged: its encoding as it was
                return entry.root
        tail = [bytes.fromhex(self._element(item, out, fresh)) for item in value[k:]]
        manifest = head + b"".join(tail)
        root, chunks = self._root(manifest, entry.chunks if entry else [], k, out, fresh)
        encoded = _Encoded(chunks, root, fresh, self.masked != masked_before)
        cache.remember(value, manifest, k, fields, encoded)
        return root

    def _root(
        self,
        manifest: bytes,
        known: list[str],
        k: int,
        out: dict[str, Blob],
        fresh: list[tuple[str, Blob]] | None,
    ) -> tuple[str, list[str]]:
        """The root of a list with element digests ``manifest`` and its chunks' hashes; the
        first ``k`` elements are those of an earlier list whose chunk hashes were ``known``."""
        if len(manifest) <= _CHUNK_BYTES:
            return self._put((LIST_TYPE, manifest), out, fresh), []
        # a long list is a list of chunks: a growing history rewrites its last chunk and
        # the short root only, not a manifest as long as the history
        chunks = known[: min(k // _CHUNK, len(known))]
        for i in range(len(chunks) * _CHUNK_BYTES, len(manifest), _CHUNK_BYTES):
            chunks.append(self._put((LIST_TYPE, manifest[i : i + _CHUNK_BYTES]), out, fresh))
        joined = b"".join(map(bytes.fromhex, chunks))
        return self._put((CHUNKS_TYPE, joined), out, fresh), chunks

    def encode_dict(
        self, value: dict[str, Any], out: dict[str, Blob], refs: dict[str, str] | None = None
    ) -> str:
        """``encode`` of a dict key by key (``is_split_dict``); ``refs`` receives the hash
        of each value redaction left as it was (what ``encode_named`` gives it)."""
        redactor, encode = self.redactor, self.encode
        keyed = {}
        for k, v in value.items():  # ``encode_named``, inlined: this is every node's state
            before = self.masked
            if redactor is not None and v and not is_internal_channel(k):
                masked = redactor.for_key(k, v)
                if masked is not v:
                    v, self.masked = masked, self.masked + 1
            keyed[k] = encode(v, out)
            if refs is not None and self.masked == before:
                refs[k] = keyed[k]
        return self._put((DICT_TYPE, _DICT_JSON(keyed).encode()), out)

    def _element(
        self, item: Any, out: dict[str, Blob], fresh: list[tuple[str, Blob]] | None = None
    ) -> str:
        """One list element; immutable ones seen before reuse their encoding. A blob the
        store may not hold yet goes to ``out`` (and is noted in ``fresh``)."""
        cache = self.elements
        if cache is None:
            return self._put(self.dumps(item), out, fresh)
        if type(item) in _IMMUTABLE:
            hit = cache.get_immutable(item)
        elif isinstance(item, BaseMessage):
            hit = cache.get(item)
        else:
            return self._put(self.dumps(item), out, fresh)
        if hit is None:
            before = self.masked
            blob = self.dumps(item)
            hit = (blob_hash(*blob), blob)
            cache.add(item, hit)
            if self.masked != before:
                self._masked_blobs.add(hit[0])
        elif self._masked_blobs and hit[0] in self._masked_blobs:
            self.masked += 1  # a masked element encoded before
        if self._unsent(hit[0]):
            out[hit[0]] = hit[1]  # only blobs the store may not hold yet travel with the event
            if fresh is not None:
                fresh.append(hit)
        return hit[0]

    def _unsent(self, h: str) -> bool:
        """Whether an event referring to blob ``h`` must carry it (``stored``)."""
        return self.stored is None or h not in self.stored

    def encode_named(self, name: str, value: Any, out: dict[str, Blob]) -> str:
        """``encode`` for a value stored under a name of its own (a dict key, a channel):
        a name that denotes a secret (``password``, ``api_key``…) masks the whole value,
        as redaction of the enclosing mapping would. LangGraph's own channels (``__…``,
        ``branch:to:…``) are bookkeeping and never masked."""
        if self.redactor is not None and value and not is_internal_channel(name):
            masked = self.redactor.for_key(name, value)
            if masked is not value:
                value, self.masked = masked, self.masked + 1
        return self.encode(value, out)

    def encode_exact(self, value: Any, out: dict[str, Blob]) -> str:
        """Like ``encode`` for one blob, without redaction: for values that hold no user
        data (a checkpoint's ids and channel versions)."""
        return self._put(self._dumps(value), out)

    def encode_empty(self, out: dict[str, Blob]) -> str:
        return self._put((EMPTY_TYPE, b""), out)

    def _put(
        self, blob: Blob, out: dict[str, Blob], fresh: list[tuple[str, Blob]] | None = None
    ) -> str:
        key = blob_hash(*blob)
        out[key] = blob
        if fresh is not None and self._unsent(key):
            fresh.append((key, blob))
        return key

    children = staticmethod(children)

    def decode(self, ref: str, blobs: Mapping[str, Blob]) -> Any:
        """Rebuild a value from its root hash; ``blobs`` must hold it and its parts."""
        blob = get_blob(blobs, ref)
        if blob[0] == LIST_TYPE:
            return [self.loads(get_blob(blobs, r)) for r in digests(blob[1])]
        if blob[0] == CHUNKS_TYPE:
            parts = [digests(get_blob(blobs, c)[1]) for c in digests(blob[1])]
            return [self.loads(get_blob(blobs, r)) for part in parts for r in part]
        if blob[0] == DICT_TYPE:
            return {k: self.decode(r, blobs) for k, r in json.loads(blob[1]).items()}
        return self.loads(blob)


def is_split_list(value: Any) -> bool:
    """A list stored element by element: a long one, or one holding messages or long text,
    so that each element is serialized once however often it is recorded (as a node's
    output, a write, a checkpoint value, a model request)."""
    if not isinstance(value, list) or not value:
        return False
    if len(value) >= _LIST_MIN:
        return True
    for item in value:
        kind = type(item)
        if kind is str:
            if len(item) >= _LONG_TEXT:
                return True
        elif kind not in _IMMUTABLE and isinstance(item, BaseMessage):
            return True
    return False


def is_split_dict(value: Any) -> bool:
    """A plain str-keyed dict carrying a list stored element by element is stored part by
    part."""
    if type(value) is not dict:
        return False
    split = False
    for k, v in value.items():
        if not isinstance(k, str):
            return False
        split = split or is_split_list(v)
    return split


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
