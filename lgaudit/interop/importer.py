"""``lgaudit import``: LangSmith runs or Langfuse observations written as recorded runs.

Each trace's root chain becomes a run (``run_start`` naming the source and the original
ids, then its input checkpoint, node, model and tool events in the order they ran, then
``run_end``/``run_error``), appended through the store's one append path in one
transaction for the whole file: everything is read, checked and built first, so a file
that is refused leaves the store unchanged. The run id is derived from the source and the
root's original id, so importing a file again adds nothing.

What makes an imported run ``[traffic]`` for ``lgaudit stage``: its input checkpoint (step
-1, LangGraph's own shape: the input on ``__start__``) is what the replay starts from; its
model calls carry the messages the model was given and its answers (stored as messages),
its tool calls their arguments and results, each under the node, step and task path
LangGraph's metadata names (``langgraph_node``, ``langgraph_step``, ``langgraph_path``,
``langgraph_checkpoint_ns``): the cassette serves them to the replayed graph.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from lgaudit.errors import BadInputError
from lgaudit.interop.rebuild import NS, Builder
from lgaudit.interop.source import Call
from lgaudit.store import NewEvent, Store

SOURCES = ("langsmith", "langfuse")


@dataclass(frozen=True)
class ImportResult:
    """What ``import_file`` did (``lgaudit import --json`` prints ``to_json()``)."""

    imported: tuple[str, ...]
    """Run ids recorded now."""
    already: tuple[str, ...]
    """Run ids of traces an earlier import recorded (nothing added for them)."""
    ignored: int = 0
    """Traces that ran no graph (a lone model or tool call, a chain with no LangGraph node)."""
    events: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": list(self.imported),
            "already_imported": list(self.already),
            "ignored_traces": self.ignored,
            "events": self.events,
        }


def imported_run_id(source: str, original_id: str) -> str:
    return str(uuid.uuid5(NS, f"{source}:{original_id}"))


def import_file(
    path: str,
    *,
    source: str,
    graph: str | None = None,
    environment: str | None = None,
    url: str | None = None,
) -> ImportResult:
    """Import a LangSmith or Langfuse export (JSON or JSONL) as recorded runs."""
    if source not in SOURCES:
        raise BadInputError(f"--from {source!r}: one of {', '.join(SOURCES)}")
    if source == "langsmith":
        from lgaudit.interop.langsmith import read
    else:
        from lgaudit.interop.langfuse import read
    calls = read(path)  # the whole file read and checked before the store is opened
    if not calls:
        raise BadInputError(f"{path}: no {source} records")
    roots, children = _tree(path, calls)
    with Store(url) as store:
        builder = Builder(store, source, path, graph, environment)
        imported: list[str] = []
        already: list[str] = []
        events: list[NewEvent] = []
        ignored = 0
        for root in roots:
            if root.kind != "chain" or not builder.is_graph_run(root, children):
                ignored += 1  # a lone model or tool call, a chain that ran no graph
                continue
            run_id = imported_run_id(source, root.id)
            if store.has_event(run_id, "run_start"):
                already.append(run_id)
                continue
            events += builder.run(run_id, root, children)
            imported.append(run_id)
        if events:
            store.append(events)
    return ImportResult(tuple(imported), tuple(already), ignored, len(events))


def _tree(path: str, calls: list[Call]) -> tuple[list[Call], dict[str, list[Call]]]:
    """Roots (no parent in the file), in start order, and each call's children in order."""
    by_id: dict[str, Call] = {}
    for c in calls:
        if c.id in by_id:
            if replace(c, line=0) == replace(by_id[c.id], line=0):
                continue  # listed twice (overlapping pages of an export): the same record
            raise BadInputError(
                f"{path}:{c.line}: record {c.id} appears twice (first on line {by_id[c.id].line})"
            )
        by_id[c.id] = c
    children: dict[str, list[Call]] = defaultdict(list)
    roots: list[Call] = []
    for c in by_id.values():
        if c.parent_id is not None and c.parent_id in by_id:
            children[c.parent_id].append(c)
        else:
            roots.append(c)
    for kids in children.values():
        kids.sort(key=lambda c: (c.order, c.start_us))
    roots.sort(key=lambda c: (c.start_us, c.order))
    return roots, children
