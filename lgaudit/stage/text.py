"""The text ``lgaudit stage`` prints: the verdict, the checks together, then the cases (the
changed and failed ones each on a line of their own, their error said once and cut to a
readable length; ``--json`` has the whole text)."""

from __future__ import annotations

from collections import Counter

from lgaudit.audit.policy import policy_note
from lgaudit.stage.shadow import ShadowResult
from lgaudit.stage.staging import StageCase, StageResult
from lgaudit.stage.words import divergence, shorten

BAD = ("changed", "failed")


def render_text(result: StageResult) -> str:
    """Verdict line; every check (the failing required ones first); the audit policy the
    suite applied (or that it sets none); the case counts, then
    each changed or failed case with its first divergence or error."""
    failing = [c for c in result.checks if not c.ok and c.name in result.require]
    lines = [
        f"{result.verdict.upper()} {result.suite} (candidate {result.graph}): "
        + (f"{len(failing)} required check(s) failed" if failing else "every required check holds")
    ]
    ordered = failing + [c for c in result.checks if c not in failing]
    for check in ordered:
        required = check.name in result.require
        state = "ok  " if check.ok else ("FAIL" if required else "skip")
        note = "" if required else " (not required)"
        lines.append(f"  {state} {check.name}{note}: {check.brief or check.detail}")
    lines.append(f"audit {policy_note(result.policy)}")
    counts = Counter(c.outcome for c in result.cases)
    lines.append(
        f"cases: {len(result.cases)} ("
        + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        + ")"
    )
    for c in (c for c in result.cases if c.outcome in BAD):
        name = f"scenario {c.case!r}" if c.kind == "scenario" else c.case
        lines.append(f"  {c.outcome:<7} {name}: {case_text(c)}")
        if c.source_run_id and c.run_id and c.kind == "traffic":
            lines.append(f"          lgaudit diff {c.source_run_id[:12]} {c.run_id[:12]}")
    if result.stage_id is not None:
        lines.append(
            f"stage {result.stage_id} recorded: `lgaudit signoff {result.stage_id[:12]} "
            "--by NAME --decision approve|reject`"
        )
    return "\n".join(lines)


def case_text(c: StageCase) -> str:
    """What a case line says after its name: its first divergence, else why it failed (cut
    to a readable length), else its status."""
    if c.first_divergence is not None:
        return divergence(c.first_divergence)
    return shorten(c.detail) if c.detail else f"status {c.status}"


def shadow_case_line(c: StageCase) -> str:
    """The line ``lgaudit shadow`` prints as each run is replayed."""
    shown = c.outcome in (*BAD, "noise")
    return f"{c.outcome:<7} {c.case}" + (f": {case_text(c)}" if shown else "")


def render_shadow(result: ShadowResult) -> str:
    """The verdict line of ``lgaudit shadow``, then each regression behind it (every run
    the shadows of this suite and candidate replayed, not only this call's)."""
    check = result.checks[0]
    lines = [
        f"{result.verdict.upper()}: {result.suite} on {result.graph}: {len(result.cases)} "
        f"run(s) replayed now, {result.replayed} in all; {check.brief or check.detail}"
    ]
    for r in result.regressions:
        fd = r.first_divergence
        what = divergence(fd) if fd is not None else shorten(r.detail or f"status {r.outcome}")
        lines.append(f"  {r.outcome:<7} shadow {r.source_run_id[:12]}: {what}")
        if r.run_id is not None:
            lines.append(f"          lgaudit diff {r.source_run_id[:12]} {r.run_id[:12]}")
    return "\n".join(lines)
