"""The text ``lgaudit stage`` prints: the verdict, the checks together, then the cases (the
changed and failed ones each on a line of their own, their error said once and cut to a
readable length; ``--json`` has the whole text)."""

from __future__ import annotations

from collections import Counter

from lgaudit.audit.policy import policy_note
from lgaudit.stage.shadow import ShadowResult
from lgaudit.stage.staging import StageCase, StageResult
from lgaudit.stage.words import divergence, shorten

BAD = ("changed", "failed", "timeout", "broken")


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
    lines += dimension_lines(result)
    if result.stage_id is not None:
        lines.append(
            f"stage {result.stage_id} recorded: `lgaudit signoff {result.stage_id[:12]} "
            "--by NAME --decision approve|reject`"
        )
    return "\n".join(lines)


def dimension_lines(result: StageResult) -> list[str]:
    """The latency line (cases, and the slowest nodes by p95) and the load line."""
    latency = result.dimensions.get("latency") or {}
    cases = latency.get("cases") or {}
    if cases.get("p50") is None:
        return []
    nodes = sorted((latency.get("nodes") or {}).items(), key=lambda kv: -(kv[1]["p95"] or 0))
    slowest = ", ".join(f"{n} {f['p95']:.3f}" for n, f in nodes[:3])
    lines = [
        f"latency: cases p50 {cases['p50']:.3f} s, p95 {cases['p95']:.3f} s"
        + (f"; node p95 {slowest} s" if slowest else "")
    ]
    load = result.dimensions.get("load")
    if load:
        lines.append(
            f"load: {load['cases']} cases at concurrency {load['concurrency']}: p50 "
            f"{load['p50']:.3f} s, p95 {load['p95']:.3f} s (alone {load['alone_p95']:.3f} s), "
            f"{load['cases_per_s']:.1f} cases/s, RSS {load['rss_growth_mb']:+.1f} MB"
        )
    return lines


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
