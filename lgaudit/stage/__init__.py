"""Staging: run a suite of cases — recorded traffic replayed on a candidate graph, synthetic
scenarios with simulated humans, a fault matrix — audit them and give one verdict
(``promote`` or ``block``) from the gate's checks. SPEC "Staging" is the contract.

The names are imported on first use (PEP 562): the suite and the arguments are checked
(``lgaudit.stage.suite``, ``lgaudit.stage.arguments``) before LangGraph is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lgaudit.lazy import lazy_names

if TYPE_CHECKING:
    from lgaudit.stage.checks import Check
    from lgaudit.stage.staging import StageCase, StageResult, stage
    from lgaudit.stage.suite import CHECKS, Suite

_LAZY = {
    "CHECKS": "lgaudit.stage.suite",
    "Check": "lgaudit.stage.checks",
    "StageCase": "lgaudit.stage.staging",
    "StageResult": "lgaudit.stage.staging",
    "Suite": "lgaudit.stage.suite",
    "stage": "lgaudit.stage.staging",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = ["CHECKS", "Check", "StageCase", "StageResult", "Suite", "stage"]
