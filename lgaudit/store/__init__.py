"""The store: the database (engine, tables, typed rows, blobs, upgrades) and its read API.

``Store`` and ``AuditSaver`` are imported on first use (PEP 562): the saver needs LangGraph,
and readers of the store (and the writer process) need neither it nor LangChain.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lgaudit.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
