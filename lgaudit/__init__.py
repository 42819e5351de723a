"""lgaudit — the flight recorder for LangGraph.

Record every LangGraph run (node events, model and tool calls, every checkpoint) into an
append-only, tamper-evident SQL store; replay, diff and audit the runs.
"""

import os

from lgaudit.errors import (
    AppendOnlyViolation,
    BadInputError,
    GuardTripped,
    LgauditError,
    SchemaError,
    StoreError,
    UnknownRunError,
)
from lgaudit.store.appender import LEAN_ENV

if not os.environ.get(LEAN_ENV):  # the writer process needs none of these
    from lgaudit.audit import AuditReport, Finding, Policy, RunDiff, audit, diff
    from lgaudit.recorder import Recorder, RecordingSaver
    from lgaudit.replay import CassetteMode, ReplayResult, replay
    from lgaudit.store import EVENT_KINDS, AuditSaver, Store
    from lgaudit.store.kills import Kill, kill, kills, lift_kill

__all__ = [
    "EVENT_KINDS",
    "AppendOnlyViolation",
    "AuditReport",
    "AuditSaver",
    "BadInputError",
    "CassetteMode",
    "Finding",
    "GuardTripped",
    "Kill",
    "LgauditError",
    "Policy",
    "Recorder",
    "RecordingSaver",
    "ReplayResult",
    "RunDiff",
    "SchemaError",
    "Store",
    "StoreError",
    "UnknownRunError",
    "audit",
    "diff",
    "kill",
    "kills",
    "lift_kill",
    "replay",
]
