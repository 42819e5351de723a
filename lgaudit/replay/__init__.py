"""Replay: re-execute recorded runs with a cassette, swapped models, faults and forks.

The names are imported on first use (PEP 562): a replay's arguments are checked
(``lgaudit.replay.spec``, ``lgaudit.replay.precheck``) before LangGraph is imported."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lgaudit.replay.engine import ReplayResult, replay
    from lgaudit.replay.spec import CassetteMode, FaultSpec, parse_fault

_LAZY = {
    "CassetteMode": "lgaudit.replay.spec",
    "FaultSpec": "lgaudit.replay.spec",
    "parse_fault": "lgaudit.replay.spec",
    "ReplayResult": "lgaudit.replay.engine",
    "replay": "lgaudit.replay.engine",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lgaudit.replay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["CassetteMode", "FaultSpec", "ReplayResult", "parse_fault", "replay"]
