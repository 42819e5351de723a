"""The store: schema, append-only event log, serialization, checkpointer, upgrades."""

from lgaudit.store.records import (
    EVENT_KINDS,
    EventRecord,
    NewEvent,
    NewRun,
    RunRecord,
    VerifyResult,
)
from lgaudit.store.saver import AuditSaver
from lgaudit.store.store import Store

__all__ = [
    "EVENT_KINDS",
    "AuditSaver",
    "EventRecord",
    "NewEvent",
    "NewRun",
    "RunRecord",
    "Store",
    "VerifyResult",
]
