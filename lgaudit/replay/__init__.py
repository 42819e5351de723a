"""Replay: re-execute recorded runs with a cassette, swapped models, faults and forks.

The names are imported on first use (PEP 562): a replay's arguments are checked
(``lgaudit.replay.spec``, ``lgaudit.replay.precheck``) before LangGraph is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lgaudit.lazy import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = ["CassetteMode", "FaultSpec", "ReplayResult", "parse_fault", "replay"]
