"""An imported run's final output compared with another run's: what stands for the state
it never recorded.

A run imported from LangSmith or Langfuse (``lgaudit import``: its ``run_start`` holds
``original_ids``) has no checkpoint after its input, so ``diff`` finds no state of its
steps to compare; the output its ``run_end`` recorded is compared with the other run's
instead, as the state after the last step. Runs lgaudit recorded compare states as before.
"""

from __future__ import annotations

from typing import Any

from lgaudit.history.deep import differences
from lgaudit.history.normalize import comparable_pair


def imported(events: list[dict[str, Any]]) -> bool:
    """Whether these are the events of an imported run."""
    return any(e["kind"] == "run_start" and "original_ids" in e["payload"] for e in events[:1])


def output_differences(
    events_a: list[dict[str, Any]], events_b: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """When either run is imported and both ended with an output: where the outputs differ
    (``{"kind": "state", "node", "path": "output…", "a", "b"}``), in path order."""
    if not (imported(events_a) or imported(events_b)):
        return []
    out_a, out_b = _output(events_a), _output(events_b)
    if out_a is None or out_b is None:
        return []
    # the interrupts a run stopped at are compared as its interrupt events; a tracer's
    # record of the output leaves them out
    out_a, out_b = (
        {k: v for k, v in o.items() if k != "__interrupt__"} if isinstance(o, dict) else o
        for o in (out_a, out_b)
    )
    va, vb = comparable_pair(out_a, out_b)
    node = next((e.get("node") for e in reversed(events_b) if e["kind"] == "node_end"), None)
    return [
        {"kind": "state", "node": node, "path": path, "a": x, "b": y}
        for path, x, y in differences(va, vb, "output")
    ]


def _output(events: list[dict[str, Any]]) -> Any:
    ends = [e for e in events if e["kind"] == "run_end"]
    return ends[-1]["payload"].get("output") if ends else None
