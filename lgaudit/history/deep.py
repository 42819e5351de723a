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


def differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Every place where ``b`` differs from ``a``, in path order."""
    if a == b:
        return []
    from deepdiff import DeepDiff

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
