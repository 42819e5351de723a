"""Readable views of stored events: references expanded into JSON values.

Stored payloads refer to large values by blob hash (``{"$ref": h}``, checkpoint
``value_refs``, write ``ref``). ``expand`` turns them back into JSON (the views the safe
serializer gives, see ``codec.decode``: types outside the allowlist come back as plain dicts,
never constructed), adds the full state ``values`` to checkpoint events and lifts
``model``/``usage``/``tool`` to the top of model and tool events, as ``lgaudit show
--json`` documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from lgaudit.codec.decode import ValueViews
from lgaudit.store.blobs import EMPTY_TYPE, Blob, is_internal_channel
from lgaudit.store.records import EventRecord


class Store(Protocol):
    """What the views read through (``lgaudit.store.Store``): blobs and channel refs."""

    def load_blobs(self, hashes: Iterable[str]) -> dict[str, Blob]: ...

    def channel_refs(
        self, thread_id: str, checkpoint_ns: str, versions: dict[str, Any], upto_gseq: int
    ) -> dict[str, str]: ...


__all__ = ["EventExpander", "expand_batches", "is_internal_channel", "payload_refs"]

_NESTED = (dict, list)


class EventExpander:
    """Expands events of one store, caching decoded values by content hash."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.views = ValueViews()
        self._values: dict[str, Any] = {}
        self._blobs: dict[str, Blob] = {}

    def preload(self, refs: Iterable[str]) -> None:
        """Load these values' blobs in bulk (a few queries for a whole trace, rather than
        one lookup per value); they are kept for the expander's life."""
        self._blobs.update(self.store.load_blobs(refs))

    def value(self, ref: str) -> Any:
        """The JSON view of a stored value (``None`` for an emptied channel)."""
        try:
            return self._values[ref]
        except KeyError:
            pass
        blobs = self._blobs if ref in self._blobs else self.store.load_blobs([ref])
        view = None if blobs[ref][0] == EMPTY_TYPE else self.views.view(ref, blobs)
        self._values[ref] = view
        return view

    def refs(self, obj: Any) -> Any:
        """``obj`` with every ``{"$ref": h}`` in it replaced by the value's view."""
        if isinstance(obj, dict):
            if len(obj) == 1 and isinstance(obj.get("$ref"), str):
                return self.value(obj["$ref"])
            return {k: self.refs(v) if isinstance(v, _NESTED) else v for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.refs(v) if isinstance(v, _NESTED) else v for v in obj]
        return obj

    def state_refs(self, event: EventRecord) -> dict[str, str]:
        """Blob refs of every channel at a checkpoint event."""
        p = event["payload"]
        return self.store.channel_refs(
            event["thread_id"] or "",
            event["checkpoint_ns"] or "",
            p.get("channel_versions") or {},
            event["gseq"],
        )

    def expand(self, event: EventRecord) -> dict[str, Any]:
        out: dict[str, Any] = dict(event)
        payload = self.refs(event["payload"])
        kind = event["kind"]
        if kind == "checkpoint":
            refs = self.state_refs(event)
            payload["values"] = {
                ch: self.value(ref)
                for ch, ref in sorted(refs.items())
                if not is_internal_channel(ch)
            }
        elif kind == "writes":
            for w in payload.get("writes", []):
                w["value"] = self.value(w["ref"])
        elif kind.startswith("llm_"):
            out["model"] = payload.get("model")
            if kind == "llm_end":
                out["usage"] = payload.get("usage")
        elif kind.startswith("tool_"):
            out["tool"] = payload.get("tool")
        out["payload"] = payload
        return out


def expand_batches(store: Store, batches: Iterable[list[EventRecord]]) -> Iterator[dict[str, Any]]:
    """Expanded events, a batch at a time: a batch's blobs are loaded in one pass, and
    nothing of it is kept once its events are handed out (the store's blob cache is
    bounded)."""
    for batch in batches:
        expander = EventExpander(store)
        refs: list[str] = []
        for e in batch:
            payload_refs(e["payload"], refs)
        expander.preload(refs)
        for e in batch:
            yield expander.expand(e)


def payload_refs(payload: Any, out: list[str]) -> None:
    """Add the blob refs a stored payload points at to ``out`` (to load them in bulk)."""
    if isinstance(payload, dict):
        if len(payload) == 1 and isinstance(payload.get("$ref"), str):
            out.append(payload["$ref"])
            return
        for key, value in payload.items():
            if key == "value_refs" and isinstance(value, dict):
                out.extend(v for v in value.values() if isinstance(v, str))
            elif key == "ref" and isinstance(value, str):
                out.append(value)
            elif isinstance(value, _NESTED):
                payload_refs(value, out)
    elif isinstance(payload, list):
        for value in payload:
            if isinstance(value, _NESTED):
                payload_refs(value, out)
