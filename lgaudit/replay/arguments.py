"""A replay's arguments checked: model swaps loaded, a state patch parsed, async graphs found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from lgaudit.errors import BadInputError
from lgaudit.replay.spec import load_model, parse_swap
from lgaudit.replay.spec import parse_patch as _parse_patch  # noqa: F401 - the old name


def _load_swaps(
    swaps: Mapping[str, str | BaseChatModel] | Sequence[str],
) -> tuple[dict[str, BaseChatModel], dict[str, str]]:
    items = swaps.items() if isinstance(swaps, Mapping) else (parse_swap(s) for s in swaps)
    models: dict[str, BaseChatModel] = {}
    refs: dict[str, str] = {}
    for name, target in items:
        if isinstance(target, str):
            models[name], refs[name] = load_model(target), target
        elif isinstance(target, BaseChatModel):
            models[name], refs[name] = target, type(target).__name__
        else:
            raise BadInputError(f"swap for {name!r} is not a chat model or MODULE:ATTR")
    return models, refs


def _is_async(graph: Any) -> bool:
    """Whether some node can only run asynchronously (a coroutine function, no sync twin)."""
    for node in getattr(graph, "nodes", {}).values():
        for runnable in _runnables(getattr(node, "bound", None)):
            if (
                getattr(runnable, "afunc", None) is not None
                and getattr(runnable, "func", 1) is None
            ):
                return True
    return False


def _runnables(runnable: Any, depth: int = 0) -> list[Any]:
    if runnable is None or depth > 5:
        return []
    found = [runnable]
    for step in getattr(runnable, "steps", None) or []:
        found.extend(_runnables(step, depth + 1))
    return found
