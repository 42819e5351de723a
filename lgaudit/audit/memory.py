"""Long-term memory in the audit: rule ``memory.cross_scope``, memory blame, and the memory
operations of a task as ``diff`` compares them.

Memory events are ``memory_read``/``memory_write`` (``lgaudit.recorder.memory`` documents
their payloads). A run's scope comes from its configurable keys as recorded at
``run_start``: with ``[memory] scope = "user_id"`` every namespace the run reads or writes
must hold that key's value as one of its labels (LangGraph's docs write
``(user_id, "memories")``, LangMem ``("memories", user_id)``); with ``[memory] namespace =
["memories", "{user_id}"]`` it must be exactly that shape. A replay is scoped by the config
of the run it replays.
"""

from __future__ import annotations

import uuid
from typing import Any

from lgaudit.audit.findings import Finding, finding_at
from lgaudit.audit.policy import Policy
from lgaudit.errors import BadInputError
from lgaudit.history.normalize import summary
from lgaudit.history.trace import Event, Trace
from lgaudit.store import Store
from lgaudit.store.views import EventExpander

MEMORY_KINDS = ("memory_read", "memory_write")
_VERBS = {
    "get": "read",
    "search": "searched",
    "list_namespaces": "listed namespaces under",
    "put": "wrote",
    "delete": "deleted from",
}


def run_configurable(trace: Trace, run_id: str) -> dict[str, Any]:
    """The run's configurable keys as recorded at its ``run_start`` (empty if it recorded
    none). A replay records the config it ran under, its source's; one recorded without it
    is scoped by the run it replays, when that run is in the trace."""
    starts = {e["run_id"]: e for e in [*trace.prior, *trace.events] if e["kind"] == "run_start"}
    current: str | None = run_id
    seen: set[str] = set()
    while current and current not in seen:
        seen.add(current)
        config = (starts.get(current) or {}).get("payload", {}).get("config")
        if isinstance(config, dict):
            return dict(config.get("configurable") or {})
        run = trace.runs.get(current)
        current = run.get("parent_run_id") if run else None
    return {}


def cross_scope(trace: Trace, run_ids: set[str], policy: Policy) -> list[Finding]:
    """``memory.cross_scope``: a namespace read or written outside the run's scope — one not
    holding the run's ``[memory] scope`` key's value as an element, or not of the shape
    ``[memory] namespace`` pins (one finding per node, operation and namespace in a run)."""
    out: list[Finding] = []
    for run_id in sorted(run_ids, key=lambda r: trace.run_order.get(r, 0)):
        configurable: dict[str, Any] | None = None
        reported: set[tuple[Any, ...]] = set()
        for e in trace.by_run.get(run_id, []):
            if e["kind"] not in MEMORY_KINDS:
                continue
            if configurable is None:
                configurable = run_configurable(trace, run_id)
            p = e["payload"]
            namespace = tuple(str(label) for label in p.get("namespace") or ())
            outside = _outside(namespace, configurable, policy)
            if outside is None:
                continue
            mark = (e.get("node"), p.get("op"), namespace)
            if mark in reported:
                continue
            reported.add(mark)
            out.append(finding_at("memory.cross_scope", e, f"{_did(e, namespace)}, {outside}"))
    return out


def _outside(
    namespace: tuple[str, ...], configurable: dict[str, Any], policy: Policy
) -> str | None:
    """Why ``namespace`` is outside the run's scope (``None`` when it is inside)."""
    if policy.memory_scope:
        key = policy.memory_scope
        if configurable.get(key) is None:
            return f"but the run has no configurable {key!r} to scope it by"
        value = configurable[key]
        if str(value) in namespace:
            return None
        return f"outside the scope of the run's {key} {value!r}"
    template = policy.memory_namespace or ()
    expected: list[str | None] = []  # None: "*", any one label
    for label in template:
        if label == "*":
            expected.append(None)
        elif label.startswith("{"):
            key = label[1:-1]
            if configurable.get(key) is None:
                return f"but the run has no configurable {key!r} for memory.namespace"
            expected.append(str(configurable[key]))
        else:
            expected.append(label)
    if len(namespace) == len(expected) and all(
        want is None or want == got for want, got in zip(expected, namespace, strict=True)
    ):
        return None
    shown = "(" + ", ".join("*" if x is None else repr(x) for x in expected) + ")"
    return f"not the run's namespace {shown} (memory.namespace {list(template)})"


def _did(e: Event, namespace: tuple[str, ...]) -> str:
    p = e["payload"]
    op = str(p.get("op"))
    key = f" key {p['key']!r}" if p.get("key") is not None and op != "search" else ""
    where = f"node {e.get('node') or '-'} at step {e.get('step')}"
    return f"{where} {_VERBS.get(op, op)} namespace {namespace!r}{key}"


def parse_namespace(text: str) -> tuple[str, ...]:
    """A namespace written as LangGraph writes it in text (``bob.memories``)."""
    labels = tuple(text.split("."))
    if not text or any(not label for label in labels):
        raise BadInputError(f"malformed namespace {text!r}: expected labels joined by '.'")
    return labels


def blame_memory(store: Store, run: str, namespace: str, key: str) -> list[dict[str, Any]]:
    """Every write (``put``/``delete``) to memory ``key`` in ``namespace`` (``a.b``) by any
    run of any thread, oldest first, through the end of ``run``: long-term memory is shared
    by threads, so what a run read may have been written by another thread's run.

    Each entry: ``run_id``, ``thread_id``, ``step``, ``node``, ``task_id``,
    ``checkpoint_ns``, ``event_seq``, ``source`` (``put`` | ``delete``), ``value`` and a
    one-line ``summary`` of it.
    """
    labels = list(parse_namespace(namespace))
    own = store.events(run)
    upto = own[-1]["gseq"] if own else None
    expander = EventExpander(store)
    out: list[dict[str, Any]] = []
    for e in store.events_of_kind(["memory_write"], upto_gseq=upto):
        p = e["payload"]
        if p.get("namespace") != labels or p.get("key") != key:
            continue
        value = expander.refs(p.get("value"))
        out.append(
            {
                "run_id": e["run_id"],
                "thread_id": e["thread_id"],
                "step": e["step"],
                "node": e["node"],
                "task_id": e["task_id"],
                "checkpoint_ns": e["checkpoint_ns"] or "",
                "event_seq": e["seq"],
                "source": p.get("op"),
                "value": value,
                "summary": summary(value, 100) if p.get("op") == "put" else "(deleted)",
            }
        )
    return out


def describe_memory(payload: dict[str, Any]) -> str:
    """One memory operation in words: ``search bob.memories "name?"``, ``put bob.memories/k``."""
    op = str(payload.get("op"))
    where = ".".join(str(label) for label in payload.get("namespace") or ()) or "(all)"
    if payload.get("key") is not None:
        where += f"/{payload['key']}"
    query = f" {payload['query']!r}" if payload.get("query") else ""
    failed = f" FAILED {payload['error'].get('type')}" if payload.get("error") else ""
    return f"{op} {where}{query}{failed}"


def memory_data(payload: dict[str, Any]) -> Any:
    """What a memory operation returned (a read) or stored (a write)."""
    if payload.get("op") in ("get", "search", "list_namespaces"):
        return payload.get("result")
    return payload.get("value")


def memory_view(payload: dict[str, Any]) -> dict[str, Any]:
    """A memory operation as ``diff`` compares it: what was asked and what came back or
    was written; item timestamps and random (UUID) keys left out, as message ids are."""
    out = {k: _stable_key(v) if k == "key" else v for k, v in payload.items()}
    result = out.get("result")
    if isinstance(result, dict):
        out["result"] = _item_view(result)
    elif isinstance(result, list):
        out["result"] = [_item_view(r) if isinstance(r, dict) else r for r in result]
    return out


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _stable_key(v) if k == "key" else v
        for k, v in item.items()
        if k not in ("created_at", "updated_at")
    }


def _stable_key(key: Any) -> Any:
    if isinstance(key, str):
        try:
            uuid.UUID(key)
        except ValueError:
            return key
        return "<uuid>"
    return key
