"""The store: schema, append-only event log, serialization, checkpointer, upgrades."""

import os

from lgaudit.store.appender import LEAN_ENV
from lgaudit.store.records import (
    EVENT_KINDS,
    EventRecord,
    NewEvent,
    NewRun,
    RunRecord,
    VerifyResult,
)

if not os.environ.get(LEAN_ENV):  # the writer process needs none of these
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
