"""lgaudit — the flight recorder for LangGraph.

Record every LangGraph run (node events, model and tool calls, every checkpoint) into an
append-only, tamper-evident SQL store; replay, diff and audit the runs.
"""

from lgaudit.errors import (
    AppendOnlyViolation,
    BadInputError,
    LgauditError,
    SchemaError,
    StoreError,
    UnknownRunError,
)
from lgaudit.recorder import Recorder, RecordingSaver
from lgaudit.store import EVENT_KINDS, AuditSaver, Store

__all__ = [
    "EVENT_KINDS",
    "AppendOnlyViolation",
    "AuditSaver",
    "BadInputError",
    "LgauditError",
    "Recorder",
    "RecordingSaver",
    "SchemaError",
    "Store",
    "StoreError",
    "UnknownRunError",
]
