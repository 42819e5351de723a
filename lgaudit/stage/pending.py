"""``[pending]``: placeholder."""

from __future__ import annotations

from collections.abc import Callable

from lgaudit.stage.cases import CaseRun
from lgaudit.stage.checks import Check
from lgaudit.stage.suite import Suite


def pending_cases(
    suite: Suite, url: str, progress: Callable[[CaseRun], None] | None = None
) -> list[CaseRun]:
    return []


def pending_check(cases: list[CaseRun]) -> Check:
    return Check("pending", False, "no [pending] table")
