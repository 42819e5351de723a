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

import json
from collections.abc import Iterable, Mapping
from typing import Any

import ormsgpack
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.jsonplus import (  # LangGraph's private encoder parts
    JsonPlusSerializer,
    _create_msgpack_ext_hook,
    _msgpack_default,
)
from langgraph.checkpoint.serde.jsonplus import _option as _MSGPACK_OPTION

from lgaudit.codec.element_cache import (  # noqa: F401  (moved: lgaudit.codec.element_cache)
    _IMMUTABLE,
    ElementCache,
    SentBlobs,
    _Encoded,
)
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
