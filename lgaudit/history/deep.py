"""The one module that talks to deepdiff: structural differences as (path, a, b) triples.

deepdiff (with the pydantic it loads) is imported when two values first differ, not when a
verb starts: ``lgaudit audit`` and a diff of equal runs never pay for it."""

from __future__ import annotations

from typing import Any

MISSING: Any = None
"""What a side that lacks the compared item shows (JSON ``null``)."""


def path_text(parts: list[Any], prefix: str = "") -> str:
    """``["messages", 2, "content"]`` -> ``prefix.messages[2].content``."""
    out = prefix
    for p in parts:
        if isinstance(p, int) or str(p).startswith(("#", "id=")):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


Pairs = dict[tuple[int, int], tuple[Any, Any, bool]]
"""``(id(x), id(y)) -> (x, y, same)``: one comparison's verdicts on pairs of values."""


def differences(
    a: Any, b: Any, prefix: str = "", pairs: Pairs | None = None
) -> list[tuple[str, Any, Any]]:
    """Every place where ``b`` differs from ``a``, in path order. Keys of two dicts whose
    values are the same (same types all the way down, equal) are left out before deepdiff
    looks, which reports nothing for them: only what differs is walked."""
    if a == b:
        return []
    from deepdiff import DeepDiff

    if isinstance(a, dict) and isinstance(b, dict):
        a, b = _trimmed(a, b, {} if pairs is None else pairs)
    tree = DeepDiff(a, b, view="tree", verbose_level=2)
    out: list[tuple[str, Any, Any]] = []
    for items in tree.values():
        for item in items:
            t1 = MISSING if _absent(item.t1) else item.t1
            t2 = MISSING if _absent(item.t2) else item.t2
            out.append((path_text(item.path(output_format="list"), prefix), t1, t2))
    return sorted(out, key=lambda d: d[0])


def _absent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _trimmed(a: dict[Any, Any], b: dict[Any, Any], pairs: Pairs) -> tuple[dict[Any, Any], ...]:
    """``a`` and ``b`` without the keys whose values are the same on both sides (into
    dicts that differ)."""
    out_a, out_b = dict(a), dict(b)
    for k in a.keys() & b.keys():
        x, y = a[k], b[k]
        if same(x, y, pairs):
            del out_a[k], out_b[k]
        elif type(x) is dict and type(y) is dict:
            out_a[k], out_b[k] = _trimmed(x, y, pairs)
    return out_a, out_b


def same(x: Any, y: Any, pairs: Pairs) -> bool:
    """Whether two JSON values are equal with the same types everywhere (``1`` is not
    ``1.0`` nor ``True``: deepdiff reports a type change there)."""
    if x is y:
        return True
    if type(x) is not type(y):
        return False
    if not isinstance(x, dict | list):
        return bool(x == y)
    key = (id(x), id(y))
    found = pairs.get(key)
    if found is not None and found[0] is x and found[1] is y:
        return found[2]
    if isinstance(x, dict):
        result = x.keys() == y.keys() and all(same(v, y[k], pairs) for k, v in x.items())
    else:
        result = len(x) == len(y) and all(same(v, w, pairs) for v, w in zip(x, y, strict=True))
    pairs[key] = (x, y, result)
    return result
