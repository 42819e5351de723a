"""What the suite's cases are and what running one gives: plain, picklable data, so cases
run in worker processes as well as in the calling one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from lgaudit.audit.findings import Finding
from lgaudit.errors import BadInputError
from lgaudit.stage.facts import RunFacts
from lgaudit.stage.suite import Suite
from lgaudit.store import RunRecord, Store


@dataclass(frozen=True)
class Case:
    """One case to run: a recorded run to replay, a scenario, or a fault of the matrix."""

    name: str
    kind: str  # "traffic" | "scenario" | "fault"
    source_run_id: str | None = None
    scenario: int | None = None
    """Index of the scenario in the suite (a scenario case, or a fault case carried by it)."""
    fault: tuple[str, str] | None = None
    """``(kind, target)`` of a fault case: ``node``, ``tool`` or ``llm`` and its name."""


@dataclass
class CaseRun:
    """What running a case gave; the runner fills findings, tokens and cost afterwards."""

    case: str
    kind: str
    run_id: str | None
    source_run_id: str | None
    status: str
    outcome: str
    first_divergence: dict[str, Any] | None = None
    detail: str | None = None
    runs: list[str] = field(default_factory=list)
    """Every run the case recorded on the candidate (a scenario's resumes are runs too)."""
    baseline_runs: list[str] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)
    diff: dict[str, Any] | None = None
    answers: list[tuple[str, Any, str]] = field(default_factory=list)
    """Each simulated human's answer: ``(gate, resume value, run id it resumed)``."""
    faulted: list[str] = field(default_factory=list)
    """The fault targets of the case (``node:NAME``, ``tool:NAME``, ``llm:NAME``)."""
    fired: int = 0
    """How many times a fault was raised."""
    facts: dict[str, RunFacts] = field(default_factory=dict)
    """What each of ``runs`` shows, by run id."""
    findings: list[Finding] = field(default_factory=list)
    """The audit's findings on ``runs`` (the suite's policy)."""
    broken: dict[str, str] = field(default_factory=dict)
    """Runs of ``runs`` whose events do not verify, and why."""
    seconds: float = 0.0
    """The case's wall time."""
    ran_live: list[str] = field(default_factory=list)
    """Tools the case ran live (not from a cassette nor a stand-in)."""
    refused: list[str] = field(default_factory=list)
    """Tools the sandbox refused."""
    state_bytes: int = 0
    """The largest encoded checkpoint state of its runs (when ``max_state_bytes`` is set)."""


def select_traffic(store: Store, suite: Suite) -> list[RunRecord]:
    """The recorded runs ``[traffic]`` selects, newest first up to its limit: runs of the
    users' graphs, not replays. Selecting nothing is bad input naming the file and the
    filters."""
    t = suite.traffic
    assert t is not None
    since = _moment(t.since) if t.since else None

    def wanted(r: RunRecord) -> bool:
        return (
            r["replay"] is None  # a replay or an earlier stage's case is not traffic
            and r["parent_run_id"] is None
            and r["status"] not in ("running", "abandoned")  # ended runs only
            and t.environment in (None, r["environment"])
            and t.graph in (None, r["graph"])
            and (since is None or _moment(r["started_at"]) >= since)
        )

    # newest first, reading a growing prefix of the store's runs (not all of them: earlier
    # stages' runs are the newest, and a store holds far more runs than a suite wants)
    window = max(4 * t.limit, 200)
    while True:
        seen = store.runs(thread_id=t.thread, status=t.status, limit=window)
        picked = [r for r in seen if wanted(r) and replayable(store, r["run_id"])][: t.limit]
        if len(picked) >= t.limit or len(seen) < window:
            break
        window *= 4
    if not picked:
        filters = {
            k: getattr(t, k)
            for k in ("environment", "graph", "thread", "since", "status")
            if getattr(t, k) is not None
        }
        shown = ", ".join(f"{k} = {v!r}" for k, v in filters.items()) or "no filter"
        raise BadInputError(
            f"{suite.path}: [traffic] matches no recorded run ({shown}): "
            "`lgaudit runs` lists what is recorded"
        )
    return picked


def replayable(store: Store, run_id: str) -> bool:
    """Whether a run recorded a checkpoint to replay from: a resume of a finished thread,
    or a run a kill order refused, ran no step and is nothing to test a candidate on."""
    return store.has_event(run_id, "checkpoint")


def _moment(value: str) -> dt.datetime:
    """An ISO date or time (UTC unless it says otherwise)."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def traffic_cases(runs: list[RunRecord]) -> list[Case]:
    return [Case(f"traffic {r['run_id'][:12]}", "traffic", source_run_id=r["run_id"]) for r in runs]


def scenario_cases(suite: Suite) -> list[Case]:
    return [Case(s.name, "scenario", scenario=i) for i, s in enumerate(suite.scenarios)]


def fault_cases(seen: dict[str, dict[str, Case]]) -> list[Case]:
    """One case per node, tool and model seen (``seen[kind][name]``: the case that saw it
    first, which carries the fault: its recorded run replayed, or its scenario run again)."""
    out: list[Case] = []
    for kind in ("node", "tool", "llm"):
        for name, carrier in seen.get(kind, {}).items():
            out.append(
                Case(
                    f"fault {kind}:{name}",
                    "fault",
                    source_run_id=carrier.source_run_id,
                    scenario=carrier.scenario,
                    fault=(kind, name),
                )
            )
    return out
