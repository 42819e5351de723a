"""Audit: diff two runs, prove state evolved only through recorded writes, flag approval
bypass, runaway loops and budget overruns, blame state keys, and render reports.

Pure functions over recorded events: everything is read through the ``Store`` API.
"""

from lgaudit.audit.audit import active_rules, audit
from lgaudit.audit.blame import blame
from lgaudit.audit.diff import RunDiff, diff
from lgaudit.audit.findings import RULES, AuditReport, Finding
from lgaudit.audit.policy import Policy
from lgaudit.audit.report import render_report

__all__ = [
    "RULES",
    "AuditReport",
    "Finding",
    "Policy",
    "RunDiff",
    "active_rules",
    "audit",
    "blame",
    "diff",
    "render_report",
]
