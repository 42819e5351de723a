"""Long-term memory operations as event data, and back.

A LangGraph store operation (``GetOp``, ``SearchOp``, ``ListNamespacesOp``, ``PutOp``) is
recorded as a JSON request (``describe_op``) plus, for a read, its result as plain data
(``result_view``: ``Item.dict()``, namespaces as lists). A replay turns them back into the
operation (``recorded_op``) and the result the store returned (``revive_result``), and
matches reads by their request (``read_signature``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NamespacePath,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
)

from lgaudit.codec.serialization import to_jsonable
from lgaudit.log.chain import canonical_json

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
        return list_op(
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


def list_op(
    prefix: NamespacePath | None,
    suffix: NamespacePath | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> ListNamespacesOp:
    """The operation ``list_namespaces(prefix=, suffix=, ...)`` makes."""
    conditions = []
    if prefix:
        conditions.append(MatchCondition(match_type="prefix", path=tuple(prefix)))
    if suffix:
        conditions.append(MatchCondition(match_type="suffix", path=tuple(suffix)))
    return ListNamespacesOp(tuple(conditions), max_depth, limit, offset)
