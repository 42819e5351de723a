"""``[load]``: placeholder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lgaudit.stage.cases import CaseRun
from lgaudit.stage.checks import Check
from lgaudit.stage.suite import Suite


@dataclass
class LoadResult:
    cases: list[CaseRun] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {}


def run_load(suite: Suite, url: str) -> LoadResult:
    return LoadResult()


def load_check(suite: Suite, load: LoadResult | None) -> Check:
    return Check("load", False, "no [load] table")
