"""lgaudit — the flight recorder for LangGraph.

Record every LangGraph run (node events, model and tool calls, every checkpoint) into an
append-only, tamper-evident SQL store; replay, diff and audit the runs.

The public names are imported on first use (PEP 562): ``import lgaudit`` and the CLI verbs
that only read the store never import LangGraph or LangChain.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from lgaudit.errors import (
    AppendOnlyViolation,
    BadInputError,
    GuardTripped,
    LgauditError,
    SchemaError,
    StoreError,
    UnknownRunError,
    UnknownStageError,
)
from lgaudit.lazy import lazy_names

if TYPE_CHECKING:
    from lgaudit.audit import AuditReport, Finding, Policy, RunDiff, audit, diff
    from lgaudit.control.kills import Kill, kill, kills, lift_kill
    from lgaudit.recorder import Recorder, RecordingSaver
    from lgaudit.replay import CassetteMode, ReplayResult, replay
    from lgaudit.review import Promotability
    from lgaudit.review.public import promotable, signoff, signoffs, stage_result, stages
    from lgaudit.stage import StageResult, stage
    from lgaudit.store import EVENT_KINDS, AuditSaver, Store

#: public name -> the module that defines it
_LAZY = {
    "AuditReport": "lgaudit.audit",
    "Finding": "lgaudit.audit",
    "Policy": "lgaudit.audit",
    "RunDiff": "lgaudit.audit",
    "audit": "lgaudit.audit",
    "diff": "lgaudit.audit",
    "Recorder": "lgaudit.recorder",
    "RecordingSaver": "lgaudit.recorder",
    "CassetteMode": "lgaudit.replay",
    "ReplayResult": "lgaudit.replay",
    "replay": "lgaudit.replay",
    "StageResult": "lgaudit.stage",
    "stage": "lgaudit.stage",
    "EVENT_KINDS": "lgaudit.store",
    "AuditSaver": "lgaudit.store",
    "Store": "lgaudit.store",
    "Kill": "lgaudit.control.kills",
    "kill": "lgaudit.control.kills",
    "kills": "lgaudit.control.kills",
    "lift_kill": "lgaudit.control.kills",
    "Promotability": "lgaudit.review",
    "promotable": "lgaudit.review.public",
    "signoff": "lgaudit.review.public",
    "signoffs": "lgaudit.review.public",
    "stage_result": "lgaudit.review.public",
    "stages": "lgaudit.review.public",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


class _Package(types.ModuleType):
    """Importing the subpackage ``lgaudit.audit`` (``replay``, ``stage``) binds, as
    Python does for any submodule, its name on this package: here the function of that
    name instead, so ``lgaudit.audit`` is always what ``from lgaudit import audit`` gives.
    A subpackage that imports its function lazily (``lgaudit.stage``, ``lgaudit.replay``:
    their argument checks must not import LangGraph) leaves the name to ``__getattr__``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == value.__name__:
            function = value.__dict__.get(name)
            if function is None or isinstance(function, types.ModuleType):
                self.__dict__.pop(name, None)
                return
            value = function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
    "Promotability",
    "Recorder",
    "RecordingSaver",
    "ReplayResult",
    "RunDiff",
    "SchemaError",
    "StageResult",
    "Store",
    "StoreError",
    "UnknownRunError",
    "UnknownStageError",
    "audit",
    "diff",
    "kill",
    "kills",
    "lift_kill",
    "promotable",
    "replay",
    "signoff",
    "signoffs",
    "stage",
    "stage_result",
    "stages",
]
