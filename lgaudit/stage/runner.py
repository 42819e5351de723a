"""Running cases: one ``Session`` per process (the candidate imported once, one recorder for
every case), in the calling process or in ``workers`` forked processes."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.pregel import Pregel

from lgaudit.audit.audit import audit as audit_runs
from lgaudit.audit.diff import diff as diff_runs
from lgaudit.errors import LgauditError, StoreError
from lgaudit.recorder import Recorder
from lgaudit.recorder.recorder import Durability
from lgaudit.replay.engine import replay_with
from lgaudit.replay.spec import CassetteMode, FaultSpec, load_graph, load_model, parse_fault
from lgaudit.stage.cases import Case, CaseRun
from lgaudit.stage.facts import run_facts
from lgaudit.stage.scenario import run_scenario
from lgaudit.stage.suite import Scenario, Suite, load_humans

Progress = Callable[[CaseRun], None]


class Session:
    """What every case of one process shares: the imported graphs and one recorder."""

    def __init__(self, suite: Suite, url: str, *, durability: Durability = "batched") -> None:
        self.suite = suite
        self.candidate: Pregel = load_graph(suite.graph)
        self.baseline: Pregel | None = load_graph(suite.baseline) if suite.baseline else None
        self.recorder = Recorder(url, environment=suite.environment, durability=durability)
        self.attached = self.recorder.attach(self.candidate)
        self._models: dict[str, BaseChatModel] = {}
        #: tool calls of traffic replays served from the recording whatever the cassette
        #: (``lgaudit shadow``: a shadow never touches the world)
        self.tools_from_recording = False

    def spec(self, case: str, kind: str) -> dict[str, Any]:
        """The replay spec's ``stage`` entry: which case of which suite a run is."""
        return {"suite": self.suite.name, "case": case, "kind": kind}

    def models(self, scenario: Scenario) -> dict[str, BaseChatModel]:
        for ref in scenario.models.values():
            if ref not in self._models:
                self._models[ref] = load_model(ref)
        return {name: self._models[ref] for name, ref in scenario.models.items()}

    def human(self, scenario: Scenario) -> Callable[[Any], Any] | None:
        return load_humans(self.suite, scenario)

    def close(self) -> None:
        self.recorder.close()


def run_case(session: Session, case: Case) -> CaseRun:
    """Run one case, then read what its runs show and audit them (in the worker that ran
    it). Bad input met by one case (a recorded run that cannot be replayed) fails that
    case with the message, never the whole stage."""
    try:
        if case.kind == "traffic":
            run = _traffic(session, case)
        elif case.kind == "scenario":
            assert case.scenario is not None
            scenario = session.suite.scenarios[case.scenario]
            run = run_scenario(session, scenario, name=case.name, kind="scenario", faults=[])
        else:
            run = _fault(session, case)
    except LgauditError as e:
        if isinstance(e, StoreError):
            raise
        return CaseRun(
            case.name, case.kind, None, case.source_run_id, "failed", "failed", None, str(e)
        )
    store = session.recorder.store
    run.facts = {r: run_facts(store.events(r), session.suite.prices) for r in run.runs}
    for run_id in run.runs:  # each run's own chain: the whole store's would grow with it
        checked = store.verify(run=run_id)
        if not checked["ok"] and checked["first_bad"] is not None:
            bad = checked["first_bad"]
            run.broken[run_id] = f"event {bad['seq']}: {bad['reason']}"
    if run.runs:
        run.findings = list(audit_runs(store, run.runs, session.suite.policy).findings)
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
    store = recorder.store
    found = diff_runs(store, source, result.run_id, ignore=traffic.ignore)
    # only a difference needs telling from noise: the baseline replays are made for those
    repeat = 0 if found.identical else traffic.repeat_baseline
    baseline = [
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
    noise: list[str] = []
    if baseline:
        # Diffy's primary and secondary: what differs between runs of one version is noise
        pairs = [(baseline[0], b) for b in baseline[1:]] or [(source, baseline[0])]
        for a, b in pairs:
            for step in diff_runs(store, a, b).steps:
                noise += [d["path"] for d in step["differences"] if d["path"] not in noise]
    outcome = "same" if found.identical else "changed"
    if noise and not found.identical:
        beyond = diff_runs(store, source, result.run_id, ignore=[*traffic.ignore, *noise])
        if beyond.identical:
            outcome = "noise"
        else:
            found = beyond
    return CaseRun(
        case=case.name,
        kind="traffic",
        run_id=result.run_id,
        source_run_id=source,
        status=result.status,
        outcome=outcome,
        first_divergence=found.first_divergence,
        detail=result.error,
        runs=[result.run_id],
        baseline_runs=baseline,
        noise=noise,
        diff=found.to_json(),
    )


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


def run_cases(
    suite: Suite, url: str, cases: list[Case], *, workers: int = 1, progress: Progress | None = None
) -> list[CaseRun]:
    """Run cases in this process, or in ``workers`` forked processes (each with a session
    of its own); results come back in the cases' order."""
    if not cases:
        return []
    if workers <= 1 or len(cases) == 1:
        session = Session(suite, url)
        out: list[CaseRun] = []
        try:
            for case in cases:
                out.append(run_case(session, case))
                if progress is not None:
                    progress(out[-1])
        finally:
            session.close()
        return out
    return _in_workers(suite, url, cases, min(workers, len(cases)), progress)


def _in_workers(
    suite: Suite, url: str, cases: list[Case], workers: int, progress: Progress | None
) -> list[CaseRun]:
    # fork: the candidate is already imported; spawn where fork is unavailable
    ctx: Any = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    results: Any = ctx.Queue()
    indexed = list(enumerate(cases))
    procs = [
        ctx.Process(target=_worker, args=(suite, url, indexed[i::workers], results), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    out: dict[int, CaseRun] = {}
    try:
        while len(out) < len(cases):
            try:
                tag, index, payload = results.get(timeout=1.0)
            except queue_mod.Empty:
                if not any(p.is_alive() for p in procs):
                    raise StoreError("a stage worker exited before finishing its cases") from None
                continue
            if tag == "error":
                raise LgauditError(f"a stage worker failed: {payload}")
            out[index] = payload
            if progress is not None:
                progress(payload)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    return [out[i] for i in range(len(cases))]


def _worker(suite: Suite, url: str, cases: list[tuple[int, Case]], results: Any) -> None:
    try:
        # workers fill the cores: on SQLite (no fsync per commit in WAL mode) a writer
        # process beside each only adds its IPC; PostgreSQL commits want the batching
        sqlite = url.startswith("sqlite")
        session = Session(suite, url, durability="sync" if sqlite else "batched")
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the stage
        results.put(("error", -1, f"{type(e).__name__}: {e}"))
        return
    try:
        for index, case in cases:
            results.put(("ok", index, run_case(session, case)))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the stage
        results.put(("error", -1, f"{type(e).__name__}: {e}"))
    finally:
        session.close()
