"""A thread's checkpoints as a tree: every run of the thread, forks where a checkpoint has
more than one child (time travel, replays in place), straight stretches folded."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lgaudit.store import Store

#: runs of one thread read for its tree
MAX_RUNS = 200


def checkpoint_tree(store: Store, thread_id: str | None, run_id: str) -> list[dict[str, Any]]:
    """Segments ``{"indent", "run_id", "first_step", "last_step", "count", "first",
    "last", "fork", "children", "mine"}`` in depth-first order: a straight stretch of one
    run's top-level checkpoints is one segment; a fork point ends its segment and each
    branch after the first is indented one more."""
    runs = store.runs(thread_id=thread_id, limit=MAX_RUNS) if thread_id else []
    run_ids = [r["run_id"] for r in runs] or [run_id]
    nodes: dict[str, dict[str, Any]] = {}
    for rid in reversed(run_ids):  # oldest first: a checkpoint belongs to the run that made it
        for e in store.events(rid, kinds=["checkpoint"]):
            cp_id = e["checkpoint_id"]
            if e["checkpoint_ns"] or cp_id is None or cp_id in nodes:
                continue
            nodes[cp_id] = {
                "id": cp_id,
                "parent": e["payload"].get("parent_checkpoint_id"),
                "step": e["step"],
                "source": e["payload"].get("source"),
                "run_id": rid,
            }
    children: dict[str | None, list[str]] = defaultdict(list)
    for cp in nodes.values():
        parent = cp["parent"] if cp["parent"] in nodes else None
        children[parent].append(cp["id"])
    segments: list[dict[str, Any]] = []
    stack: list[tuple[str, int]] = [(c, 0) for c in reversed(children[None])]
    while stack:
        cp_id, indent = stack.pop()
        cp = nodes[cp_id]
        seg = {
            "indent": indent,
            "run_id": cp["run_id"],
            "first_step": cp["step"],
            "last_step": cp["step"],
            "count": 1,
            "first": cp_id,
            "last": cp_id,
            "fork": False,
            "children": 0,
            "mine": cp["run_id"] == run_id,
        }
        segments.append(seg)
        while True:
            kids = children.get(seg["last"], [])
            if len(kids) == 1 and nodes[kids[0]]["run_id"] == seg["run_id"]:
                nxt = nodes[kids[0]]
                seg.update(last=nxt["id"], last_step=nxt["step"], count=seg["count"] + 1)
                continue
            seg["fork"] = len(kids) > 1
            seg["children"] = len(kids)
            for i, kid in reversed(list(enumerate(kids))):
                stack.append((kid, indent + (1 if i > 0 else 0)))
            break
    return segments
