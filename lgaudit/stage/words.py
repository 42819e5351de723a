"""How ``lgaudit stage`` and ``lgaudit shadow`` put things in words: one sentence for a first
divergence, and a long message cut to a readable length (the whole text stays in ``--json``)."""

from __future__ import annotations

from typing import Any

from lgaudit.history.normalize import summary

#: Characters of one message the text reports show before cutting it.
READABLE = 160


def divergence(fd: dict[str, Any]) -> str:
    """``first divergence at step 2, node agent (route at nodes): ["a"] -> ["b"]``: a diff's
    ``first_divergence`` as both verbs print it."""
    return (
        f"first divergence at step {fd.get('step')}, node {fd.get('node')} "
        f"({fd.get('kind')} at {fd.get('path')}): {summary(fd.get('a'), 60)} -> "
        f"{summary(fd.get('b'), 60)}"
    )


def shorten(text: str, limit: int = READABLE) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
