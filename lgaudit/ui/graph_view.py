"""A run's graph drawn on the server: the nodes and edges its ``run_start`` recorded
(``graph_shape``), laid out in layers from ``__start__``, with the path the run took and how
often each node ran. Plain geometry out; the template writes the SVG (text escaped)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_ROW = 70
_GAP = 28
_BOX_H = 30
_CHAR_W = 7.2
_PAD = 18


@dataclass
class Drawing:
    width: int
    height: int
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)


def path_taken(steps: Sequence[Any]) -> tuple[list[list[str]], Counter[str]]:
    """The nodes of each top-level step in order, and how many times each node ran."""
    path: list[list[str]] = []
    visits: Counter[str] = Counter()
    for s in steps:
        if s.namespace:
            continue
        nodes = [t.node for t in s.tasks if not t.node.startswith("__")]
        visits.update(nodes)
        if nodes:
            path.append(sorted(set(nodes)))
    return path, visits


def taken_edges(path: list[list[str]], status: str) -> set[tuple[str, str]]:
    """Transitions between consecutive steps' nodes (and from ``__start__``, to ``__end__``)."""
    taken: set[tuple[str, str]] = set()
    if not path:
        return taken
    taken |= {("__start__", n) for n in path[0]}
    for before, after in zip(path, path[1:], strict=False):
        taken |= {(a, b) for a in before for b in after}
    if status == "succeeded":
        taken |= {(n, "__end__") for n in path[-1]}
    return taken


def draw(shape: dict[str, Any], visits: Counter[str], taken: set[tuple[str, str]]) -> Drawing:
    """Boxes in layers by distance from ``__start__``; edges as lines, back edges as curves."""
    names = [str(n) for n in shape.get("nodes") or []]
    edges = [(str(e[0]), str(e[1]), bool(e[2])) for e in shape.get("edges") or [] if len(e) >= 3]
    layer = _layers(names, edges)
    rows: dict[int, list[str]] = {}
    for n in names:
        rows.setdefault(layer[n], []).append(n)
    widths = {n: max(60, int(len(_label(n, visits)) * _CHAR_W) + 20) for n in names}
    row_width = {r: sum(widths[n] for n in ns) + _GAP * (len(ns) - 1) for r, ns in rows.items()}
    width = int(max(row_width.values(), default=200)) + 2 * _PAD + 40  # room for loops
    pos: dict[str, tuple[float, float]] = {}
    drawing = Drawing(width=width, height=(max(rows, default=0) + 1) * _ROW + _PAD)
    for r, ns in sorted(rows.items()):
        x = _PAD + (width - 2 * _PAD - row_width[r]) / 2
        for n in ns:
            pos[n] = (x, _PAD + r * _ROW)
            drawing.nodes.append(
                {
                    "name": n,
                    "label": _label(n, visits),
                    "x": round(x, 1),
                    "y": pos[n][1],
                    "w": widths[n],
                    "h": _BOX_H,
                    "visited": visits.get(n, 0) > 0
                    or n in ("__start__", "__end__")
                    and bool(visits),
                }
            )
            x += widths[n] + _GAP
    for a, b, conditional in edges:
        if a not in pos or b not in pos:
            continue
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, x2 = xa + widths[a] / 2, xb + widths[b] / 2
        if layer[b] > layer[a]:
            d = f"M{x1:.0f},{ya + _BOX_H} L{x2:.0f},{yb}"
        elif layer[b] == layer[a] and a != b:  # a side step: under the row
            low = ya + _BOX_H + _ROW / 3
            d = f"M{x1:.0f},{ya + _BOX_H} Q{(x1 + x2) / 2:.0f},{low:.0f} {x2:.0f},{yb + _BOX_H}"
        else:  # back edge (a loop): around the right of the boxes
            bend = max(xa + widths[a], xb + widths[b]) + 30
            d = (
                f"M{xa + widths[a]:.0f},{ya + _BOX_H / 2} C{bend:.0f},{ya + _BOX_H / 2} "
                f"{bend:.0f},{yb + _BOX_H / 2} {xb + widths[b]:.0f},{yb + _BOX_H / 2}"
            )
        drawing.edges.append(
            {
                "source": a,
                "target": b,
                "d": d,
                "conditional": conditional,
                "taken": (a, b) in taken,
            }  # fmt: skip
        )
    return drawing


def _label(name: str, visits: Counter[str]) -> str:
    n = visits.get(name, 0)
    return f"{name} ×{n}" if n else name


def _layers(names: list[str], edges: list[tuple[str, str, bool]]) -> dict[str, int]:
    """Breadth-first distance from ``__start__``; ``__end__`` last; the unreached after."""
    out: dict[str, int] = {}
    nexts: dict[str, list[str]] = {}
    for a, b, _ in edges:
        nexts.setdefault(a, []).append(b)
    start = "__start__" if "__start__" in names else (names[0] if names else None)
    if start is not None:
        out[start] = 0
        queue = deque([start])
        while queue:
            n = queue.popleft()
            for m in nexts.get(n, []):
                if m not in out and m != "__end__":
                    out[m] = out[n] + 1
                    queue.append(m)
    deepest = max(out.values(), default=0)
    for n in names:
        if n not in out and n != "__end__":
            deepest += 1
            out[n] = deepest
    if "__end__" in names:
        out["__end__"] = deepest + 1
    return out
