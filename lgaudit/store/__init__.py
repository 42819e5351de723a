"""The store: the database (engine, tables, typed rows, blobs, upgrades) and its read API.

``Store`` and ``AuditSaver`` are imported on first use (PEP 562): the saver needs LangGraph,
and readers of the store (and the writer process) need neither it nor LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lgaudit.lazy import lazy_names
from lgaudit.store.records import (
    EVENT_KINDS,
    EventRecord,
    NewEvent,
    NewRun,
    RunRecord,
    VerifyResult,
)

if TYPE_CHECKING:
    from lgaudit.checkpointer.saver import AuditSaver
    from lgaudit.store.store import Store

_LAZY = {"AuditSaver": "lgaudit.checkpointer.saver", "Store": "lgaudit.store.store"}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


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
