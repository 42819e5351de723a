"""A case run within the suite's limits: its wall time, ``case_timeout_s`` and the tool
sandbox around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lgaudit.stage.cases import Case, CaseRun
from lgaudit.stage.sandbox import Sandbox, sandboxed
from lgaudit.stage.timeout import run_limited

if TYPE_CHECKING:
    from lgaudit.stage.session import Session


def contained(session: Session, case: Case, execute: Callable[[], CaseRun]) -> CaseRun:
    """``execute()`` the case under the suite's timeout and sandbox; a case still running
    at ``case_timeout_s`` is ``timeout``, one the sandbox refused a tool ``failed``."""
    suite = session.suite
    box = Sandbox(suite.tools, session.stand_ins) if suite.tools is not None else None

    def run() -> CaseRun:
        with sandboxed(box):
            return execute()

    started = time.perf_counter()
    done = run_limited(session.recorder, run, suite.case_timeout_s)
    seconds = time.perf_counter() - started
    if done.timed_out:
        session.recorder.flush()
        value = done.value if isinstance(done.value, CaseRun) else None
        runs = list(value.runs) if value else []
        runs += [r for r in done.runs if r not in runs]
        out = value or CaseRun(
            case.name, case.kind, runs[-1] if runs else None, case.source_run_id, "failed", ""
        )
        out.runs, out.run_id, out.status = (
            runs,
            out.run_id or (runs[-1] if runs else None),
            "failed",
        )
        out.outcome = "timeout"
        where = f"inside node(s) {', '.join(done.nodes)}" if done.nodes else "between node calls"
        out.detail = f"still running after case_timeout_s = {suite.case_timeout_s:g} s, {where}"
    elif done.error is not None:
        raise done.error
    else:
        out = done.value
    out.seconds = round(seconds, 6)
    if box is not None:
        out.ran_live, out.refused = list(box.ran_live), list(box.refused)
        if box.refused and out.outcome != "timeout":
            out.outcome = "failed"
            named = ", ".join(box.refused)
            out.detail = f"the tool sandbox refused tool(s) {named}" + (
                f" ({out.detail})" if out.detail else ""
            )
    return out
