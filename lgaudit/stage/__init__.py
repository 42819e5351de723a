"""Staging: run a suite of cases — recorded traffic replayed on a candidate graph, synthetic
scenarios with simulated humans, a fault matrix — audit them and give one verdict
(``promote`` or ``block``) from the gate's checks. SPEC "Staging" is the contract."""

from lgaudit.stage.checks import Check
from lgaudit.stage.staging import StageCase, StageResult, stage
from lgaudit.stage.suite import CHECKS, Suite

__all__ = ["CHECKS", "Check", "StageCase", "StageResult", "Suite", "stage"]
