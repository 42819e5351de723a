"""Findings, the audit report, and its JUnit XML form."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

from lgaudit.audit.policy import Policy, policy_note

RULES = (
    "state.unexplained_change",
    "state.owner",
    "approval.bypass",
    "approval.forged",
    "approval.resume_reused",
    "loop.node_repeats",
    "budget.steps",
    "budget.llm_calls",
    "budget.tool_calls",
    "budget.tokens",
    "budget.cost",
    "memory.cross_scope",
    "run.error",
    "guard.killed",
    "rate.llm_calls",
    "rate.tool_calls",
)
"""Every rule id, exactly as SPEC names them."""

POLICY_FREE_RULES = (
    "state.unexplained_change",
    "run.error",
    "approval.resume_reused",
    "guard.killed",
    "rate.llm_calls",
    "rate.tool_calls",
)
"""The rules that run with no policy."""


@dataclass(frozen=True)
class Finding:
    """One violation, as ``lgaudit audit --json`` prints it.

    ``rule`` is one of ``RULES``; ``severity`` is ``"error"`` (exit 1) or ``"warning"``;
    ``step``/``node``/``channel``/``event_seq`` locate it in the run (``None`` when not
    applicable); ``message`` says what happened, with the values involved.
    """

    rule: str
    severity: str
    run_id: str
    thread_id: str | None
    step: int | None
    node: str | None
    channel: str | None
    event_seq: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditReport:
    """The result of ``audit``: the runs audited, the rules run, the findings, and the
    policy applied (``None``: only the rules that need none ran)."""

    runs: tuple[str, ...]
    rules: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    policy: Policy | None = None

    @property
    def policy_note(self) -> str:
        """Which policy was applied, or that none was, in one line."""
        return policy_note(self.policy)

    @property
    def failed(self) -> bool:
        """Whether any finding has severity ``error`` (``lgaudit audit`` exits 1)."""
        return any(f.severity == "error" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """``lgaudit audit --json``: ``policy`` names the policy applied (its file), or is
        ``null`` when none was; ``rules`` are the rules that ran."""
        return {
            "policy": self.policy.name if self.policy is not None else None,
            "rules": list(self.rules),
            "findings": [f.to_json() for f in self.findings],
        }

    def to_junit(self) -> str:
        """JUnit XML: one test case per rule per run, failed by that rule's findings; the
        suite's ``policy`` property says which policy was applied, or that none was."""
        suite = ET.Element("testsuite", name="lgaudit audit")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="policy", value=self.policy_note)
        failures = 0
        for run_id in self.runs:
            for rule in self.rules:
                case = ET.SubElement(suite, "testcase", classname=f"run.{run_id}", name=rule)
                found = [f for f in self.findings if f.run_id == run_id and f.rule == rule]
                if found:
                    failures += 1
                    failure = ET.SubElement(
                        case, "failure", type=found[0].severity, message=found[0].message
                    )
                    failure.text = "\n".join(
                        f"{f.message} (step {f.step}, node {f.node}, channel {f.channel}, "
                        f"event seq {f.event_seq})"
                        for f in found
                    )
        suite.set("tests", str(len(self.runs) * len(self.rules)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def finding_at(rule: str, event: dict[str, Any], message: str, **where: Any) -> Finding:
    """A finding located at a recorded event (``where`` overrides step/node/channel)."""
    return Finding(
        rule=rule,
        severity=where.get("severity", "error"),
        run_id=event["run_id"],
        thread_id=event.get("thread_id"),
        step=where.get("step", event.get("step")),
        node=where.get("node", event.get("node")),
        channel=where.get("channel"),
        event_seq=event.get("seq"),
        message=message,
    )
