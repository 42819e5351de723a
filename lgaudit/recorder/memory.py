"""Long-term memory recorded: a LangGraph store's operations as ``memory_read``/``memory_write``.

A recorded run is given, in its runtime, a ``RecordingStore`` in place of its long-term
memory store (the graph's ``compile(store=...)``, a store in the caller's runtime, or
``Recorder(store=...)``): nodes reach it however they ask — the injected ``store``
argument, ``runtime.store``, ``get_store()``, a tool's ``InjectedStore`` — and it passes
every operation to the user's store unchanged, then records it from inside the task that
made it (node, step, task id and namespace from the task's config, as model calls are).

Event payloads (``op`` names the store method)::

    memory_read   {"op": "get", "namespace": [...], "key": k, "result": ITEM | null}
                  {"op": "search", "namespace": PREFIX, "query", "filter", "limit", "offset",
                   "result": [ITEM + "score", ...]}
                  {"op": "list_namespaces", "namespace": PREFIX, "suffix", "max_depth",
                   "limit", "offset", "result": [[...], ...]}
    memory_write  {"op": "put", "namespace", "key", "value", "index", "ttl"}
                  {"op": "delete", "namespace", "key"}

``ITEM`` is ``{"namespace", "key", "value", "created_at", "updated_at"}`` (LangGraph's
``Item.dict()``). Everything is redacted (a query may quote a secret); values and results
are stored like state (inline when small, else content-addressed blobs). An operation that
raised is recorded with ``error``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables.config import var_child_runnable_config
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    NamespacePath,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from lgaudit.checkpointer.runs import RUN_ID_KEY, config_run_id
from lgaudit.events.memory_ops import READ_OPS, describe_op, list_op, result_view
from lgaudit.events.payloads import error_view, task_context
from lgaudit.log.chain import canonical_json
from lgaudit.store import NewEvent

if TYPE_CHECKING:
    from lgaudit.recorder.host import Host as Recorder


class MemoryLog:
    """Turns store operations made inside a recorded run's tasks into events."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def wrap(self, store: BaseStore) -> BaseStore:
        """The store, recorded (a store already recorded is returned as it is)."""
        return store if isinstance(store, RecordingStore) else RecordingStore(store, self)

    def record(
        self, ops: Sequence[Op], results: Sequence[Any], error: BaseException | None = None
    ) -> None:
        config = var_child_runnable_config.get() or {}
        metadata = config.get("metadata") or {}
        run_id = config_run_id(config)
        if not run_id:
            return  # not made from inside a recorded run (nothing to attribute it to)
        recorder = self.recorder
        run = recorder.runs.for_config({"metadata": {RUN_ID_KEY: run_id}, "configurable": {}})
        ctx = task_context(metadata)
        events = []
        for i, op in enumerate(ops):
            payload = self.masked(describe_op(op))  # a query may quote a secret
            blobs: dict[str, tuple[str, bytes]] = {}
            if error is not None:
                payload["error"] = recorder.jsonable(error_view(error))
            elif payload["op"] in READ_OPS:
                view = result_view(op, results[i] if i < len(results) else None)
                # namespaces are short label lists, kept inline (``pack`` would take a list
                # holding one list for a model call's batch of one and unwrap it)
                payload["result"] = (
                    self.masked(view)
                    if isinstance(op, ListNamespacesOp)
                    else recorder.pack(view, blobs)
                )
            if isinstance(op, PutOp) and op.value is not None:
                payload["value"] = recorder.pack(dict(op.value), blobs)
            kind = "memory_read" if payload["op"] in READ_OPS else "memory_write"
            events.append(NewEvent(run=run, kind=kind, payload=payload, blobs=blobs, **ctx))
        try:
            recorder.sink.submit(events)
        except BaseException:
            recorder.checkpointer.forget_encodings()
            raise

    def masked(self, view: Any) -> Any:
        """A JSON view redacted (walked only when its text hints at a secret)."""
        redactor = self.recorder.redactor
        return redactor.redact(view) if redactor.needs(canonical_json(view)) else view


class RecordingStore(BaseStore):
    """A user's ``BaseStore`` with every operation recorded; behaves as the store does.

    Each method calls the same method of the wrapped store (so its own batching, TTL
    handling and validation are unchanged) and records the call when it returns or raises.
    Attributes the wrapper does not define (``setup``, ``index_config``, ``ttl_config``…)
    are the wrapped store's."""

    def __init__(self, inner: BaseStore, log: MemoryLog) -> None:
        self.inner = inner
        self.log = log
        self.supports_ttl = inner.supports_ttl

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "log"):  # not yet set (a copy being built)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _call(self, ops: Sequence[Op], call: Callable[[], Any], many: bool = False) -> Any:
        try:
            result = call()
        except BaseException as e:
            self.log.record(ops, [], e)
            raise
        self.log.record(ops, result if many else [result])
        return result

    async def _acall(
        self, ops: Sequence[Op], call: Callable[[], Awaitable[Any]], many: bool = False
    ) -> Any:
        try:
            result = await call()
        except BaseException as e:
            self.log.record(ops, [], e)
            raise
        self.log.record(ops, result if many else [result])
        return result

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        listed = list(ops)
        return self._call(listed, lambda: self.inner.batch(listed), many=True)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        listed = list(ops)
        return await self._acall(listed, lambda: self.inner.abatch(listed), many=True)

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        op = GetOp(tuple(namespace), str(key))
        return self._call([op], lambda: self.inner.get(namespace, key, refresh_ttl=refresh_ttl))

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        op = GetOp(tuple(namespace), str(key))
        return await self._acall(
            [op], lambda: self.inner.aget(namespace, key, refresh_ttl=refresh_ttl)
        )

    def search(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        op = SearchOp(tuple(namespace_prefix), filter, limit, offset, query)
        return self._call(
            [op],
            lambda: self.inner.search(
                namespace_prefix,
                query=query,
                filter=filter,
                limit=limit,
                offset=offset,
                refresh_ttl=refresh_ttl,
            ),
        )

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        op = SearchOp(tuple(namespace_prefix), filter, limit, offset, query)
        return await self._acall(
            [op],
            lambda: self.inner.asearch(
                namespace_prefix,
                query=query,
                filter=filter,
                limit=limit,
                offset=offset,
                refresh_ttl=refresh_ttl,
            ),
        )

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        op = PutOp(tuple(namespace), str(key), value, index, _ttl(ttl))
        self._call([op], lambda: self.inner.put(namespace, key, value, index, ttl=ttl))

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        op = PutOp(tuple(namespace), str(key), value, index, _ttl(ttl))
        await self._acall([op], lambda: self.inner.aput(namespace, key, value, index, ttl=ttl))

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        op = PutOp(tuple(namespace), str(key), None)
        self._call([op], lambda: self.inner.delete(namespace, key))

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        op = PutOp(tuple(namespace), str(key), None)
        await self._acall([op], lambda: self.inner.adelete(namespace, key))

    def list_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        op = list_op(prefix, suffix, max_depth, limit, offset)
        return self._call(
            [op],
            lambda: self.inner.list_namespaces(
                prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
            ),
        )

    async def alist_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        op = list_op(prefix, suffix, max_depth, limit, offset)
        return await self._acall(
            [op],
            lambda: self.inner.alist_namespaces(
                prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
            ),
        )


def _ttl(ttl: float | None | NotProvided) -> float | None:
    return None if isinstance(ttl, NotProvided) else ttl
