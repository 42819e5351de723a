"""A synthetic scenario run on the candidate, its interrupts answered by a simulated human.

Each ``invoke`` is a run of its own (the first on the scenario's input, then one per
``Command(resume=...)``), all on one new thread, recorded in the suite's environment with a
replay spec naming the suite and the case.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from lgaudit.replay.arguments import _is_async
from lgaudit.replay.faults import FaultInjector
from lgaudit.replay.intercept import Interceptor
from lgaudit.replay.spec import CassetteMode, FaultSpec
from lgaudit.replay.targets import substitute_name
from lgaudit.stage.cases import CaseRun
from lgaudit.stage.suite import Scenario

if TYPE_CHECKING:
    from lgaudit.stage.session import Session

#: A scenario still interrupting after this many answers is looping, not waiting.
MAX_ROUNDS = 100


def run_scenario(
    session: Session,
    scenario: Scenario,
    *,
    name: str,
    kind: str,
    faults: list[FaultSpec],
    judge: bool = True,
) -> CaseRun:
    """Run ``scenario`` (with ``faults`` on top of its own ``inject``) and, with ``judge``,
    hold it to its ``expect`` (a fault case's outcome is decided by the caller)."""
    recorder = session.recorder
    thread_id = f"stage-{uuid.uuid4().hex[:12]}"
    swaps = session.models(scenario)
    recorder.callback.model_aliases = {n: substitute_name(m) for n, m in swaps.items()}
    injector = FaultInjector(recorder, [*scenario.inject, *faults])
    interceptor = Interceptor(recorder, None, CassetteMode.OFF, swaps, dict(scenario.models))
    config: dict[str, Any] = {
        "configurable": {"thread_id": thread_id},
        "callbacks": [injector],
        "metadata": {"lgaudit_replay": {"stage": session.spec(name, kind)}},
    }
    graph = session.attached
    answer = _human(scenario.humans, session.human(scenario))
    given: list[tuple[str, Any, int]] = []
    detail: str | None = None  # why the scenario could not go on
    broke: str | None = None  # why its run failed (an ``expect`` may ask for that)
    value: Any = scenario.input
    with interceptor.active():
        for round_ in range(MAX_ROUNDS + 1):
            try:
                if _is_async(graph):
                    asyncio.run(graph.ainvoke(value, config))
                else:
                    graph.invoke(value, config)
            except Exception as e:  # noqa: BLE001 - the run failed: recorded, judged below
                broke = f"the run failed: {type(e).__name__}: {e}"
                break
            pending = [(t.name, i) for t in graph.get_state(config).tasks for i in t.interrupts]
            if not pending:
                break
            if round_ == MAX_ROUNDS:
                detail = f"still interrupting after {MAX_ROUNDS} answers"
                break
            resumes: dict[str, Any] = {}
            for gate, interrupt in pending:
                resume = answer(interrupt.value)
                if resume is _NONE:
                    detail = (
                        f"gate {gate} interrupted with no simulated answer left "
                        f"({len(given)} given): add one to humans"
                    )
                    break
                resumes[interrupt.id] = resume
                given.append((gate, resume, round_ + 1))
            if detail is not None:
                break
            value = Command(resume=next(iter(resumes.values())) if len(pending) == 1 else resumes)
    recorder.flush()
    runs = [r["run_id"] for r in reversed(recorder.store.runs(thread_id=thread_id, limit=None))]
    last = recorder.store.run(runs[-1]) if runs else None
    status = last["status"] if last else "failed"
    if judge and detail is None:
        detail = _expected(scenario, status, _final_state(session, graph, config))
        unused = len(scenario.humans) - len(given) if isinstance(scenario.humans, tuple) else 0
        if detail is not None and unused > 0:
            detail += f" ({unused} simulated answer(s) never asked for)"
        if broke is not None and (detail is not None or scenario.expect_status is None):
            detail = f"{detail} ({broke})" if detail else broke
    elif detail is None:
        detail = broke
    return CaseRun(
        case=name,
        kind=kind,
        run_id=runs[-1] if runs else None,
        source_run_id=None,
        status=status,
        outcome="passed" if detail is None else "failed",
        detail=detail,
        runs=runs,
        # the answer given at round N resumed the thread's run N + 1
        answers=[(g, a, runs[n]) for g, a, n in given if n < len(runs)],
        faulted=[_target(f) for f in [*scenario.inject, *faults]],
        fired=injector.injected,
    )


_NONE = object()


def _human(
    humans: tuple[Any, ...] | str, human: Callable[[Any], Any] | None
) -> Callable[[Any], Any]:
    """The simulated human: the callable given each interrupt value, or the list's next
    answer (``_NONE`` once none is left)."""
    if human is not None:
        return human
    left = iter(humans)
    return lambda _value: next(left, _NONE)


def _final_state(session: Session, graph: Any, config: dict[str, Any]) -> Any:
    return session.recorder.jsonable(graph.get_state(config).values)


def _expected(scenario: Scenario, status: str, state: Any) -> str | None:
    """What the scenario's ``expect`` did not get, or ``None``."""
    if scenario.expect_status is not None and status != scenario.expect_status:
        return f"expected status {scenario.expect_status}, got {status}"
    if scenario.expect_state is not None:
        return _mismatch(scenario.expect_state, state, "state")
    return None


def _mismatch(expected: Any, actual: Any, path: str) -> str | None:
    """Where ``actual`` fails to contain ``expected`` (tables are subsets; lists match
    element by element), or ``None``."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"expected {path} to be a table, got {actual!r}"
        for key, want in expected.items():
            if key not in actual:
                return f"expected {path}.{key} = {want!r}, the final state has no {key}"
            found = _mismatch(want, actual[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"expected {path} = {expected!r}, got {actual!r}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = _mismatch(want, got, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if type(expected) is not type(actual) and not (
        isinstance(expected, int | float) and isinstance(actual, int | float)
    ):
        return f"expected {path} = {expected!r}, got {actual!r}"
    return None if expected == actual else f"expected {path} = {expected!r}, got {actual!r}"


def _target(fault: FaultSpec) -> str:
    return f"{fault.kind}:{fault.target}"
