"""``blame(store, run, key)``: every write to a state key in the thread, up to a run."""

from __future__ import annotations

from typing import Any

from lgaudit.history.normalize import summary
from lgaudit.history.trace import TraceLoader, write_entries
from lgaudit.store import Store


def blame(store: Store, run: str, key: str) -> list[dict[str, Any]]:
    """Writes to ``key`` in the run's thread, oldest first, through the end of ``run``.

    Each entry: ``run_id``, ``step``, ``node``, ``task_id``, ``checkpoint_ns``,
    ``event_seq``, ``source`` (``write`` | ``input`` | ``update_state``), ``value`` and a
    one-line ``summary`` of it.
    """
    loader = TraceLoader(store)
    _record, trace = loader.run_in_thread(run)
    out: list[dict[str, Any]] = []
    for e in trace.events:
        if e["kind"] == "state_update":
            values = e["payload"].get("values") or {}
            if key in values:
                out.append(_entry(e, e["payload"].get("as_node"), "update_state", values[key]))
        elif e["kind"] == "writes" and e["run_id"] not in trace.update_runs:
            node = trace.node(e)
            for w in write_entries(e):
                if w["channel"] == key:
                    source = "input" if node == "__start__" else "write"
                    out.append(_entry(e, node, source, w.get("value")))
    out.sort(
        key=lambda x: (
            trace.run_order.get(x["run_id"], 0),
            x["step"] if x["step"] is not None else -1,
            x["event_seq"],
        )
    )
    return out


def _entry(e: dict[str, Any], node: str | None, source: str, value: Any) -> dict[str, Any]:
    return {
        "run_id": e["run_id"],
        "step": e.get("step"),
        "node": node,
        "task_id": e.get("task_id"),
        "checkpoint_ns": e.get("checkpoint_ns") or "",
        "event_seq": e["seq"],
        "source": source,
        "value": value,
        "summary": summary(value, 100),
    }
