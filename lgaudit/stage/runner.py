"""Running a case: one ``Session`` per process (the candidate imported once, one recorder for
every case) executes it; ``analyze`` reads, audits and verifies its runs."""

from __future__ import annotations

from lgaudit.audit.audit import audit as audit_runs
from lgaudit.audit.diff import RunDiff
from lgaudit.audit.diff import diff as diff_runs
from lgaudit.errors import LgauditError, StoreError
from lgaudit.replay.engine import replay_with
from lgaudit.replay.spec import CassetteMode, FaultSpec, parse_fault
from lgaudit.stage.cases import Case, CaseRun
from lgaudit.stage.contain import contained
from lgaudit.stage.facts import run_facts
from lgaudit.stage.latency import state_bytes
from lgaudit.stage.pending import run_pending
from lgaudit.stage.scenario import run_scenario
from lgaudit.stage.session import Session
from lgaudit.stage.suite import Suite
from lgaudit.store import Store

__all__ = ["PENDING", "Session", "analyze", "execute_case", "run_case"]

PENDING = "pending"
"""The outcome of a traffic case whose diff ``analyze`` makes."""


def run_case(session: Session, case: Case) -> CaseRun:
    """Run one case and analyze its runs."""
    return analyze(session.recorder.store, session.suite, execute_case(session, case))


def execute_case(session: Session, case: Case) -> CaseRun:
    """Run one case (its runs are in the store when this returns) within the suite's
    timeout and tool sandbox. Bad input met by one case (a recorded run that cannot be
    replayed) fails that case with the message, never the whole stage."""
    return contained(session, case, lambda: _execute(session, case))


def _execute(session: Session, case: Case) -> CaseRun:
    try:
        if case.kind == "traffic":
            return _traffic(session, case)
        if case.kind == "pending":
            return run_pending(session, case)
        if case.kind == "scenario":
            assert case.scenario is not None
            scenario = session.suite.scenarios[case.scenario]
            return run_scenario(session, scenario, name=case.name, kind="scenario", faults=[])
        return _fault(session, case)
    except LgauditError as e:
        if isinstance(e, StoreError):
            raise
        return CaseRun(
            case.name, case.kind, None, case.source_run_id, "failed", "failed", None, str(e)
        )


def analyze(store: Store, suite: Suite, run: CaseRun) -> CaseRun:
    """Judge a traffic case left pending, read what a case's runs show, audit them and
    verify their chains (reads only: any process can do it)."""
    if run.outcome == PENDING and suite.traffic is not None:
        _judge(store, suite.traffic.ignore, run, None)
    run.facts = {r: run_facts(store.events(r), suite.prices) for r in run.runs}
    for run_id in run.runs:  # each run's own chain: the whole store's would grow with it
        checked = store.verify(run=run_id)
        if not checked["ok"] and checked["first_bad"] is not None:
            bad = checked["first_bad"]
            run.broken[run_id] = f"event {bad['seq']}: {bad['reason']}"
    if run.runs:
        run.findings = list(audit_runs(store, run.runs, suite.policy).findings)
    if suite.latency.max_state_bytes is not None:
        run.state_bytes = state_bytes(store, run.runs)
    return run


def _traffic(session: Session, case: Case) -> CaseRun:
    traffic = session.suite.traffic
    assert traffic is not None and case.source_run_id is not None
    source, recorder = case.source_run_id, session.recorder
    result = replay_with(
        recorder,
        source,
        graph=session.candidate,
        graph_ref=session.suite.graph,
        cassette=traffic.cassette,
        spec={"stage": session.spec(case.name, "traffic")},
        tools_from_recording=session.tools_from_recording,
    )
    run = CaseRun(
        case.name, "traffic", result.run_id, source, result.status, PENDING, None,
        result.error, runs=[result.run_id],
    )  # fmt: skip
    if session.defer_diffs and not traffic.repeat_baseline:
        return run  # judged by ``analyze``, in another process
    found = diff_runs(recorder.store, source, result.run_id, ignore=traffic.ignore)
    # only a difference needs telling from noise: the baseline replays are made for those
    repeat = 0 if found.identical else traffic.repeat_baseline
    run.baseline_runs = [
        replay_with(
            recorder,
            source,
            graph=session.baseline or session.candidate,
            graph_ref=session.suite.baseline or session.suite.graph,
            cassette=traffic.cassette,
            tools_from_recording=session.tools_from_recording,
            spec={"stage": session.spec(case.name, "baseline")},
        ).run_id
        for _ in range(repeat)
    ]
    _judge(recorder.store, traffic.ignore, run, found)
    return run


def _judge(store: Store, ignore: tuple[str, ...], run: CaseRun, found: RunDiff | None) -> None:
    """A traffic case's outcome from its diff against its source (made here if not given)
    and the noise among its baseline replays."""
    assert run.source_run_id is not None and run.run_id is not None
    source = run.source_run_id
    if found is None:
        found = diff_runs(store, source, run.run_id, ignore=ignore)
    baseline = run.baseline_runs
    if baseline:
        # Diffy's primary and secondary: what differs between runs of one version is noise
        pairs = [(baseline[0], b) for b in baseline[1:]] or [(source, baseline[0])]
        for a, b in pairs:
            for step in diff_runs(store, a, b).steps:
                run.noise += [d["path"] for d in step["differences"] if d["path"] not in run.noise]
    run.outcome = "same" if found.identical else "changed"
    if run.noise and not found.identical:
        beyond = diff_runs(store, source, run.run_id, ignore=[*ignore, *run.noise])
        if beyond.identical:
            run.outcome = "noise"
        else:
            found = beyond
    run.first_divergence = found.first_divergence
    run.diff = found.to_json()


def _fault(session: Session, case: Case) -> CaseRun:
    """A fault of the matrix, raised on every attempt. The carrier's recorded run is
    replayed ``lenient``: a recovery path (a fallback model or tool) the recording never
    took must be able to run."""
    assert case.fault is not None
    kind, target = case.fault
    exc_type = parse_fault(f"probe:{session.suite.fault_exception}").exc_type
    text = f"{'' if kind == 'node' else kind + ':'}{target}:{exc_type.__name__}"
    fault = FaultSpec(kind, target, exc_type, f"lgaudit stage: {text}", None, text)
    if case.source_run_id is not None:
        traffic = session.suite.traffic
        mode = CassetteMode.OFF if traffic and traffic.cassette is CassetteMode.OFF else None
        result = replay_with(
            session.recorder,
            case.source_run_id,
            graph=session.candidate,
            graph_ref=session.suite.graph,
            cassette=mode or CassetteMode.LENIENT,
            faults=[fault],
            spec={"stage": session.spec(case.name, "fault")},
        )
        run = CaseRun(
            case.name, "fault", result.run_id, case.source_run_id, result.status, "", None,
            result.error, runs=[result.run_id], faulted=[f"{kind}:{target}"],
        )  # fmt: skip
        fired = result.faults_injected
    else:
        assert case.scenario is not None
        scenario = session.suite.scenarios[case.scenario]
        run = run_scenario(
            session, scenario, name=case.name, kind="fault", faults=[fault], judge=False
        )
        fired = run.fired
    run.outcome = _fault_outcome(session, run, fired)
    return run


def _fault_outcome(session: Session, run: CaseRun, fired: int) -> str:
    if not fired:
        run.detail = "the fault was never raised: the candidate did not reach it" + (
            f" ({run.detail})" if run.detail else ""
        )
        return "failed"
    statuses = [session.recorder.store.run(r)["status"] for r in run.runs]
    if "running" in statuses:
        run.detail = "a run of the case was left running"
        return "failed"
    if run.status != "failed":
        return "recovered"
    check = session.recorder.store.verify(run=run.run_id) if run.run_id else None
    if check is None or not check["ok"]:
        run.detail = f"the failed run does not verify: {check and check['first_bad']}"
        return "failed"
    return "failed_cleanly"
