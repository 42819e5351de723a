"""``shadow(suite)``: replay recorded runs matching a suite's ``[traffic]`` on the candidate
as they land, and keep a rolling verdict (``lgaudit shadow``).

Everything a shadow keeps belongs to its suite and candidate graph together: a candidate's
first shadow starts at the beginning of the traffic, and no other candidate's replays count
in its verdict. A shadow follows the store in global order: the runs it considers are the
ended runs of the users' graphs (not replays) whose last event comes after the last run its
suite and candidate have a progress row for. Each run is claimed first (a PostgreSQL
advisory lock, a file lock beside a SQLite database), so several shadow processes of one
suite and candidate share the work; a progress row (``lgaudit_shadow_progress``,
append-only, in the hash chain) is recorded once the replay is done, so a restarted shadow
resumes after it and no run is replayed twice. Tool calls are always served from the
recording (never live, whatever the suite's cassette); models follow the suite's cassette.
Outcomes and the JSON case shape are ``lgaudit stage``'s; the verdict counts every run the
shadows of this suite and candidate have replayed.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from lgaudit.stage.arguments import check_shadow
from lgaudit.stage.cases import Case, CaseRun, _moment, replayable
from lgaudit.stage.checks import Check
from lgaudit.stage.runner import Session, run_case
from lgaudit.stage.staging import StageCase, _case, _import
from lgaudit.stage.suite import Suite
from lgaudit.stage.words import divergence
from lgaudit.store import Store
from lgaudit.store.engine import translate_errors
from lgaudit.store.liveness import Claims
from lgaudit.store.records import INTERNAL_GRAPHS, SHADOW_GRAPH, NewEvent, NewRun
from lgaudit.store.schema import Event, Run, ShadowProgress

REGRESSIONS = ("changed", "failed")
_SHOWN = 5  # regressions named in the verdict's detail before "and N more"


@dataclass(frozen=True)
class ShadowRun:
    """A recorded run a shadow of this suite and candidate replayed (its progress row)."""

    source_run_id: str
    run_id: str | None
    """The replay on the candidate (``None`` when the replay could not start)."""
    outcome: str
    first_divergence: dict[str, Any] | None
    detail: str | None
    """Why a failed case failed (the whole text)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "source_run_id": self.source_run_id,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "first_divergence": self.first_divergence,
            "detail": self.detail,
        }


#: The cases a following shadow keeps for its result (the verdict counts them all, from the
#: progress rows): it runs for hours, and a case holds its diff.
FOLLOW_CASES = 1_000


@dataclass(frozen=True)
class ShadowResult:
    """What ``lgaudit shadow --json`` prints: this call's cases (as ``lgaudit stage``
    prints them), and the rolling verdict over ``runs``, every run the shadows of this suite
    and candidate replayed (this one's and earlier ones', oldest first)."""

    suite: str
    graph: str
    verdict: str
    checks: tuple[Check, ...]
    cases: tuple[StageCase, ...]
    runs: tuple[ShadowRun, ...]

    @property
    def replayed(self) -> int:
        """Runs the shadows of this suite and candidate have replayed in all."""
        return len(self.runs)

    @property
    def regressions(self) -> tuple[ShadowRun, ...]:
        return tuple(r for r in self.runs if r.outcome in REGRESSIONS)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "graph": self.graph,
            "verdict": self.verdict,
            "checks": [c.to_json() for c in self.checks],
            "cases": [c.to_json() for c in self.cases],
            "replayed": self.replayed,
            "runs": [r.to_json() for r in self.runs],
        }


def shadow(
    suite: str | Path | Suite,
    *,
    url: str | None = None,
    graph: str | None = None,
    follow: bool = False,
    max_runs: int | None = None,
    poll_s: float = 0.5,
    progress: Callable[[StageCase], None] | None = None,
    stop: threading.Event | None = None,
) -> ShadowResult:
    """Replay the new recorded runs a suite's ``[traffic]`` matches on its candidate.

    Args:
        suite: a suite file or a loaded ``Suite`` (its ``[traffic]`` is required).
        url: the store the runs are recorded in, and the replays recorded into.
        graph: ``module:attr`` of the candidate, overriding ``[suite] graph``; the
            position, progress and verdict are this candidate's own.
        follow: keep watching for new runs (every ``poll_s``) instead of stopping when
            none is left.
        max_runs: stop after replaying this many runs.
        progress: called with each case as it is done.
        stop: set it to end the shadow early (it finishes the run in hand); the result is
            the verdict so far.

    Bad input (the suite, an unknown graph, no ``[traffic]``, ``max_runs`` below 1) raises
    ``BadInputError`` before anything is recorded.
    """
    suite = check_shadow(suite, graph=graph, url=url, max_runs=max_runs)
    _import(suite, "--graph" if graph else "suite.graph", suite.graph)
    with Store.open(url) as store:
        url = store.url
    session = Session(suite, url)
    session.tools_from_recording = True
    claims = Claims(url)
    stop = stop or threading.Event()
    cases: list[StageCase] = []  # a following shadow keeps its last ``FOLLOW_CASES``
    replayed = 0
    try:
        while not stop.is_set() and (max_runs is None or replayed < max_runs):
            store = session.recorder.store
            done = _progress_rows(store, suite)
            after = max((r["source_gseq"] for r in done), default=0)
            skip = {r["source_run_id"] for r in done}
            found = False
            for run_id, last in _new_runs(store, suite, after):
                if stop.is_set() or (max_runs is not None and replayed >= max_runs):
                    break
                claim = f"{suite.name}\0{suite.graph}\0{run_id}"
                if run_id in skip or not claims.claim(claim):
                    continue
                try:
                    if _progress_rows(store, suite, source_run_id=run_id):
                        continue  # another shadow finished it meanwhile
                    case = _replay(session, run_id, last)
                finally:
                    claims.release(claim)
                found = True
                replayed += 1
                cases.append(case)
                if follow and len(cases) > FOLLOW_CASES:
                    del cases[0]
                if progress is not None:
                    progress(case)
            if not found and not follow:
                break
            if not found:
                stop.wait(poll_s)
        runs = tuple(_shadow_run(r) for r in _progress_rows(session.recorder.store, suite))
    finally:
        claims.close()
        session.close()
    check = _rolling_check(suite, runs)
    return ShadowResult(
        suite=suite.name,
        graph=suite.graph,
        verdict="promote" if check.ok else "block",
        checks=(check,),
        cases=tuple(cases),
        runs=runs,
    )


def _replay(session: Session, run_id: str, last: int) -> StageCase:
    """Replay one recorded run on the candidate as a traffic case and record its progress
    row once everything the replay recorded is in the store."""
    case = Case(f"shadow {run_id[:12]}", "traffic", source_run_id=run_id)
    ran: CaseRun = run_case(session, case)
    recorder = session.recorder
    recorder.flush()
    fd = ran.first_divergence
    row = {
        "suite": session.suite.name,
        "graph": session.suite.graph,
        "source_run_id": run_id,
        "source_gseq": last,
        "run_id": ran.run_id,
        "outcome": ran.outcome,
        "first_divergence": None if fd is None else json.dumps(fd, sort_keys=True, default=str),
        "detail": ran.detail if ran.outcome in REGRESSIONS else None,
    }
    run = NewRun(run_id=str(uuid.uuid4()), graph=SHADOW_GRAPH, environment=recorder.environment)
    note = {"name": "lgaudit:shadow", "data": row}
    recorder.store.append(
        [
            NewEvent(run=run, kind="run_start", payload={"graph": SHADOW_GRAPH}),
            NewEvent(run=run, kind="custom", payload=note, rows=[(ShadowProgress, row)]),
            NewEvent(run=run, kind="run_end", payload={"status": "succeeded"}),
        ]
    )
    return _case(ran, bool(session.suite.prices))


def _new_runs(store: Store, suite: Suite, after: int) -> list[tuple[str, int]]:
    """Ended runs ``[traffic]`` selects whose last event is past ``after``, oldest first,
    with that event's global position."""
    t = suite.traffic
    assert t is not None
    ends = (
        select(Event.run_id, func.max(Event.gseq).label("last"))
        .where(Event.kind.in_(["run_end", "run_error"]), Event.gseq > after)
        .group_by(Event.run_id)
        .subquery()
    )
    q = (
        select(Run.run_id, Run.started_at, ends.c.last)
        .join(ends, ends.c.run_id == Run.run_id)
        .where(Run.parent_run_id.is_(None), Run.replay.is_(None))
        .where(Run.graph.is_(None) | Run.graph.not_in(INTERNAL_GRAPHS))
        .order_by(ends.c.last)
    )
    if t.environment is not None:
        q = q.where(Run.environment == t.environment)
    if t.graph is not None:
        q = q.where(Run.graph == t.graph)
    if t.thread is not None:
        q = q.where(Run.thread_id == t.thread)
    with translate_errors(), store._read.connect() as conn:
        rows = conn.execute(q).all()
    since = _moment(t.since) if t.since else None
    out: list[tuple[str, int]] = []
    for run_id, started_at, last in rows:
        if since is not None and started_at < int(since.timestamp() * 1e6):
            continue
        if t.status is not None and store.run(run_id)["status"] != t.status:
            continue
        if not replayable(store, run_id):
            continue
        out.append((run_id, int(last)))
    return out


def _progress_rows(
    store: Store, suite: Suite, *, source_run_id: str | None = None
) -> list[dict[str, Any]]:
    """The progress rows of this suite and candidate (of one source run), oldest first."""
    table = ShadowProgress.__table__
    q = select(table).where(table.c.suite == suite.name, table.c.graph == suite.graph)
    if source_run_id is not None:
        q = q.where(table.c.source_run_id == source_run_id)
    with translate_errors(), store._read.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(table.c.gseq)).mappings()]


def _shadow_run(row: dict[str, Any]) -> ShadowRun:
    fd = row["first_divergence"]
    return ShadowRun(
        source_run_id=row["source_run_id"],
        run_id=row["run_id"],
        outcome=row["outcome"],
        first_divergence=json.loads(fd) if fd else None,
        detail=row["detail"],
    )


def _rolling_check(suite: Suite, runs: tuple[ShadowRun, ...]) -> Check:
    bad = [r for r in runs if r.outcome in REGRESSIONS]
    noise = sum(r.outcome == "noise" for r in runs)
    head = (
        f"{len(bad)} regression(s) in {len(runs)} shadowed runs "
        f"(max_regressions = {suite.max_regressions}; {noise} noise)"
    )
    ok = len(bad) <= suite.max_regressions
    if not bad:
        return Check("traffic", ok, head)
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    named = [f"shadow {r.source_run_id[:12]}" for r in bad]
    items = [f"{name}: {_what_happened(r)}" for name, r in zip(named, bad, strict=True)]
    return Check(
        "traffic",
        ok,
        f"{head}: {'; '.join(items[:_SHOWN])}{more}",
        f"{head}: {', '.join(named[:_SHOWN])}{more}",
    )


def _what_happened(r: ShadowRun) -> str:
    """A shadowed run's first divergence (with the diff to run), else why it failed."""
    if r.first_divergence is not None:
        return f"{divergence(r.first_divergence)}; `lgaudit diff {r.source_run_id[:12]} " + (
            f"{str(r.run_id)[:12]}`"
        )
    return r.detail or r.outcome
