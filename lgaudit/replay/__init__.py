"""Replay: re-execute recorded runs with a cassette, swapped models, faults and forks."""

from lgaudit.replay.engine import ReplayResult, replay
from lgaudit.replay.spec import CassetteMode, FaultSpec, parse_fault

__all__ = ["CassetteMode", "FaultSpec", "ReplayResult", "parse_fault", "replay"]
