"""Long-term memory during a replay: recorded reads served back, writes kept to the replay.

Under a ``strict`` or ``lenient`` cassette a replay's nodes get a ``ReplayStore`` as their
store. A read (``get``, ``search``, ``list_namespaces``) the recorded run made — matched by
its task (node, step, task path, attempt), the operation and its arguments, and how many
times the task had made it — returns what it returned then, however the live store has
changed since. A read the recording lacks fails a strict replay (``CassetteMissError``
naming it and the nearest recorded read); a lenient one reads the replay's own store.
Writes (``put``, ``delete``) go to that store: an ``InMemoryStore`` of the replay's own,
seeded with every item the recorded run read, never the recorded or live store.
With ``--cassette off`` the graph's store is used as given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from langchain_core.runnables.config import var_child_runnable_config
from langgraph.store.base import BaseStore, Op, PutOp, Result
from langgraph.store.memory import InMemoryStore

from lgaudit.errors import CassetteMissError
from lgaudit.events.memory_ops import (
    READ_OPS,
    describe_op,
    read_signature,
    recorded_items,
    revive_result,
)
from lgaudit.replay.cassette import Cassette, describe, memory_label
from lgaudit.replay.intercept import _recorded_error
from lgaudit.replay.spec import CassetteMode

if TYPE_CHECKING:
    from lgaudit.replay.intercept import Interceptor


def replay_store(
    live: BaseStore | None,
    cassette: Cassette | None,
    mode: CassetteMode,
    interceptor: Interceptor,
) -> BaseStore | None:
    """The store a replay's nodes use: the graph's own (``live``) with no cassette, else a
    ``ReplayStore`` (when the graph has a store or the recorded run used one)."""
    if mode is CassetteMode.OFF or cassette is None:
        return live
    if live is None and not cassette.memory_ops:
        return None
    return ReplayStore(cassette, mode, interceptor)


class ReplayStore(BaseStore):
    """Serves a replay's memory reads from its cassette; keeps its writes to itself."""

    supports_ttl = True  # a TTL asked for is accepted and ignored: the store lives one replay

    def __init__(self, cassette: Cassette, mode: CassetteMode, interceptor: Interceptor) -> None:
        self.cassette = cassette
        self.mode = mode
        self.interceptor = interceptor
        self.own = InMemoryStore()
        seed: list[PutOp] = []
        for payload in cassette.memory_ops:
            if payload.get("op") not in READ_OPS or "result" not in payload:
                continue
            view = cassette.stored(payload.get("result"))
            for item in recorded_items(payload, view):
                seed.append(PutOp(item.namespace, item.key, item.value, index=False))
        if seed:
            self.own.batch(seed)

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return [self._one(op) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return self.batch(ops)  # served or in memory: nothing to wait for

    def _one(self, op: Op) -> Result:
        if isinstance(op, PutOp):
            return self.own.batch([op._replace(ttl=None)])[0]
        ic = self.interceptor
        request = ic.recorder.memory.masked(describe_op(op))  # as recorded: redacted
        metadata = (var_child_runnable_config.get() or {}).get("metadata") or {}
        key, attempt = ic._key(metadata), ic._attempt(metadata)
        signature = read_signature(request)
        n = ic._next((key, attempt, "memory", signature))
        recorded = self.cassette.memory.get(
            (key, self.cassette.attempt(key, attempt), signature, n)
        )
        if recorded is not None:
            if recorded.error is not None:
                raise _recorded_error(recorded)
            return revive_result(request, self.cassette.value(recorded))
        if self.mode is CassetteMode.STRICT:
            raise CassetteMissError(
                f"{memory_label(request)} #{n + 1} in {describe(key)}",
                self.cassette.nearest_memory(key),
                "no recorded read with these arguments",
            )
        return self.own.batch([op])[0]
