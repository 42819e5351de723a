"""A thread's checkpoints as a tree: every run of the thread, forks where a checkpoint has
more than one child (time travel, replays in place), straight stretches folded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def checkpoint_tree(events: Iterable[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """Segments ``{"indent", "run_id", "first_step", "last_step", "count", "first",
    "last", "fork", "children", "mine"}`` of the top-level checkpoints among ``events`` (a
    thread's, in order), depth first: a straight stretch of one run's checkpoints is one
    segment; a fork point ends its segment and each branch after the first is indented
    one more."""
    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        cp_id = e["checkpoint_id"]
        if e["kind"] != "checkpoint" or e["checkpoint_ns"] or cp_id is None or cp_id in nodes:
            continue
        nodes[cp_id] = {
            "id": cp_id,
            "parent": e["payload"].get("parent_checkpoint_id"),
            "step": e["step"],
            "source": e["payload"].get("source"),
            "run_id": e["run_id"],
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
