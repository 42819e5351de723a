"""Audit: diff two runs, prove state evolved only through recorded writes, flag approval
bypass, runaway loops, budget overruns and memory read across users, blame state keys and
memory keys, and render reports.

Pure functions over recorded events: everything is read through the ``Store`` API.
``diff(a, b)`` and ``audit(runs, policy)`` open the store named by ``url`` (else
``$LGAUDIT_DB``, else ``sqlite:///lgaudit.db``); an open ``Store`` may be passed first
instead (``diff(store, a, b)``, ``audit(store, runs, policy)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lgaudit.audit.audit import active_rules
from lgaudit.audit.audit import audit as audit_runs
from lgaudit.audit.blame import blame
from lgaudit.audit.diff import RunDiff
from lgaudit.audit.diff import diff as diff_runs
from lgaudit.audit.findings import RULES, AuditReport, Finding
from lgaudit.audit.memory import blame_memory
from lgaudit.audit.policy import Policy
from lgaudit.audit.report import render_report
from lgaudit.store import Store

__all__ = [
    "RULES",
    "AuditReport",
    "Finding",
    "Policy",
    "RunDiff",
    "active_rules",
    "audit",
    "audit_runs",
    "blame",
    "blame_memory",
    "diff",
    "diff_runs",
    "render_report",
]


def diff(*args: Any, url: str | None = None, ignore: Sequence[str] = ()) -> RunDiff:
    """``diff(a, b)`` — what differs between two runs and where they first diverge."""
    if args and isinstance(args[0], Store):
        return diff_runs(args[0], *args[1:], ignore=ignore)
    with Store.open(url) as store:
        return diff_runs(store, *args, ignore=ignore)


def audit(*args: Any, url: str | None = None) -> AuditReport:
    """``audit(runs, policy=None)`` — findings of the SPEC's rules for runs (ids/prefixes)."""
    if args and isinstance(args[0], Store):
        return audit_runs(args[0], *_runs_first(args[1:]))
    with Store.open(url) as store:
        return audit_runs(store, *_runs_first(args))


def _runs_first(args: tuple[Any, ...]) -> tuple[Any, ...]:
    runs, *rest = args
    runs = [runs] if isinstance(runs, str) else list(runs)
    policy: Policy | str | Path | None = rest[0] if rest else None
    return runs, policy
