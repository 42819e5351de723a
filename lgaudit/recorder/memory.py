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

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables.config import var_child_runnable_config
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NamespacePath,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from lgaudit.recorder.callback import error_view, task_context
from lgaudit.store import NewEvent
from lgaudit.store.chain import canonical_json
from lgaudit.store.runs import RUN_ID_KEY
from lgaudit.store.serialization import to_jsonable

if TYPE_CHECKING:
    from lgaudit.recorder.recorder import Recorder

READ_OPS = ("get", "search", "list_namespaces")


def op_name(op: Op) -> str:
    """The store method an operation stands for (``put`` of ``None`` is a ``delete``)."""
    if isinstance(op, GetOp):
        return "get"
    if isinstance(op, SearchOp):
        return "search"
    if isinstance(op, ListNamespacesOp):
        return "list_namespaces"
    return "delete" if op.value is None else "put"


def describe_op(op: Op) -> dict[str, Any]:
    """What an operation asked for, as JSON (results and values aside)."""
    name = op_name(op)
    if isinstance(op, GetOp):
        return {"op": name, "namespace": list(op.namespace), "key": op.key}
    if isinstance(op, SearchOp):
        return {
            "op": name,
            "namespace": list(op.namespace_prefix),
            "query": op.query,
            "filter": to_jsonable(op.filter),
            "limit": op.limit,
            "offset": op.offset,
        }
    if isinstance(op, ListNamespacesOp):
        conditions = op.match_conditions or ()
        prefix = next((c.path for c in conditions if c.match_type == "prefix"), ())
        suffix = next((c.path for c in conditions if c.match_type == "suffix"), None)
        return {
            "op": name,
            "namespace": list(prefix),
            "suffix": list(suffix) if suffix is not None else None,
            "max_depth": op.max_depth,
            "limit": op.limit,
            "offset": op.offset,
        }
    out: dict[str, Any] = {"op": name, "namespace": list(op.namespace), "key": op.key}
    if op.value is not None:
        out["index"] = to_jsonable(op.index)
        out["ttl"] = op.ttl
    return out


def recorded_op(payload: Mapping[str, Any], value: Any = None) -> Op:
    """The operation a recorded payload describes (``describe_op`` reversed); ``value`` is
    a ``put``'s value as objects."""
    op, namespace = payload.get("op"), tuple(payload.get("namespace") or ())
    if op == "get":
        return GetOp(namespace, str(payload.get("key")))
    if op == "search":
        return SearchOp(
            namespace,
            payload.get("filter"),
            int(payload.get("limit") or 10),
            int(payload.get("offset") or 0),
            payload.get("query"),
        )
    if op == "list_namespaces":
        suffix = payload.get("suffix")
        return _list_op(
            namespace,
            tuple(suffix) if suffix else None,
            payload.get("max_depth"),
            int(payload.get("limit") or 100),
            int(payload.get("offset") or 0),
        )
    if op == "delete":
        return PutOp(namespace, str(payload.get("key")), None)
    return PutOp(
        namespace, str(payload.get("key")), value or {}, payload.get("index"), payload.get("ttl")
    )


def read_signature(request: Mapping[str, Any]) -> str:
    """A read's identity for the cassette: the operation and its arguments, hashed (a
    recorded payload's ``result`` and ``error`` left out)."""
    asked = {k: v for k, v in request.items() if k not in ("result", "error")}
    return hashlib.sha256(canonical_json(asked).encode()).hexdigest()[:16]


def result_view(op: Op, result: Any) -> Any:
    """A read's result as plain data (``Item.dict()``, namespaces as lists)."""
    if isinstance(op, GetOp):
        return result.dict() if isinstance(result, Item) else None
    if isinstance(op, SearchOp):
        return [item.dict() for item in result or ()]
    return [list(ns) for ns in result or ()]


def revive_result(request: Mapping[str, Any], view: Any) -> Any:
    """A recorded read's result as the store returned it (``Item``, ``SearchItem``, tuples)."""
    op = request.get("op")
    if op == "get":
        return _item(view) if isinstance(view, dict) else None
    if op == "search":
        return [_search_item(v) for v in view or ()]
    return [tuple(ns) for ns in view or ()]


def recorded_items(request: Mapping[str, Any], view: Any) -> list[Item]:
    """The items a recorded read returned (what a replay's own store is seeded with)."""
    if request.get("op") == "get":
        return [_item(view)] if isinstance(view, dict) else []
    if request.get("op") == "search":
        return [_item(v) for v in view or () if isinstance(v, dict)]
    return []


def _item(view: dict[str, Any]) -> Item:
    return Item(
        value=view.get("value") or {},
        key=str(view.get("key")),
        namespace=tuple(view.get("namespace") or ()),
        created_at=view["created_at"],
        updated_at=view["updated_at"],
    )


def _search_item(view: dict[str, Any]) -> SearchItem:
    return SearchItem(
        namespace=tuple(view.get("namespace") or ()),
        key=str(view.get("key")),
        value=view.get("value") or {},
        created_at=view["created_at"],
        updated_at=view["updated_at"],
        score=view.get("score"),
    )


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
        if not metadata.get(RUN_ID_KEY):
            return  # not made from inside a recorded run (nothing to attribute it to)
        recorder = self.recorder
        run = recorder.runs.for_config({"metadata": metadata, "configurable": {}})
        ctx = task_context(metadata)
        events = []
        for i, op in enumerate(ops):
            payload = recorder.jsonable(describe_op(op))  # a query may quote a secret
            blobs: dict[str, tuple[str, bytes]] = {}
            if error is not None:
                payload["error"] = recorder.jsonable(error_view(error))
            elif payload["op"] in READ_OPS:
                view = result_view(op, results[i] if i < len(results) else None)
                # namespaces are short label lists, kept inline (``pack`` would take a list
                # holding one list for a model call's batch of one and unwrap it)
                payload["result"] = (
                    recorder.jsonable(view)
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
        op = _list_op(prefix, suffix, max_depth, limit, offset)
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
        op = _list_op(prefix, suffix, max_depth, limit, offset)
        return await self._acall(
            [op],
            lambda: self.inner.alist_namespaces(
                prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
            ),
        )


def _ttl(ttl: float | None | NotProvided) -> float | None:
    return None if isinstance(ttl, NotProvided) else ttl


def _list_op(
    prefix: NamespacePath | None,
    suffix: NamespacePath | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> ListNamespacesOp:
    conditions = []
    if prefix:
        conditions.append(MatchCondition(match_type="prefix", path=tuple(prefix)))
    if suffix:
        conditions.append(MatchCondition(match_type="suffix", path=tuple(suffix)))
    return ListNamespacesOp(tuple(conditions), max_depth, limit, offset)
