"""Where cases run: in the calling process, or in ``workers`` processes.

Forked processes (the candidate is already imported; spawned where fork is unavailable),
each with a session of its own. On PostgreSQL every worker executes and analyzes its share
of the cases. SQLite has one writer at a time, and a writer waiting for the lock sleeps in
steps of milliseconds, so writers in several processes mostly wait: there this process
executes every case (its recorder's writer process beside it) and the workers analyze
them — the reads (diff, audit, verification, what each run shows) that are about 40% of a
case (a traffic case with baseline replays is diffed where it runs: its diff decides them).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
from collections.abc import Callable
from typing import Any

from lgaudit.errors import LgauditError, StoreError
from lgaudit.stage.cases import Case, CaseRun
from lgaudit.stage.runner import Session, analyze, execute_case, run_case
from lgaudit.stage.suite import Suite
from lgaudit.stage.timeout import stuck
from lgaudit.store import Store

Progress = Callable[[CaseRun], None]


def run_cases(
    suite: Suite, url: str, cases: list[Case], *, workers: int = 1, progress: Progress | None = None
) -> list[CaseRun]:
    """Run and analyze cases; results come back in the cases' order."""
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
    workers = min(workers, len(cases))
    if url.startswith("sqlite"):
        return _analyzed_in_workers(suite, url, cases, workers - 1, progress)
    return _in_workers(suite, url, cases, workers, progress)


def _context() -> Any:
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _collect(
    results: Any,
    procs: list[Any],
    out: dict[int, CaseRun],
    total: int,
    progress: Progress | None,
    *,
    block: bool = True,
) -> None:
    """Take finished cases off ``results`` (all of them, or what is there now)."""
    while len(out) < total:
        try:
            tag, index, payload = results.get(timeout=1.0) if block else results.get_nowait()
        except queue_mod.Empty:
            if not block:
                return
            if not any(p.is_alive() for p in procs):
                raise StoreError("a stage worker exited before finishing its cases") from None
            continue
        if tag == "error":
            raise LgauditError(f"a stage worker failed: {payload}")
        out[index] = payload
        if progress is not None:
            progress(payload)


def _stop(procs: list[Any]) -> None:
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()


def _in_workers(
    suite: Suite, url: str, cases: list[Case], workers: int, progress: Progress | None
) -> list[CaseRun]:
    ctx = _context()
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
        _collect(results, procs, out, len(cases), progress)
    finally:
        _stop(procs)
    return [out[i] for i in range(len(cases))]


def _worker(suite: Suite, url: str, cases: list[tuple[int, Case]], results: Any) -> None:
    try:
        session = Session(suite, url)
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
    if stuck():  # a case blocked in a task thread would hold this worker's exit
        results.close()
        results.join_thread()
        os._exit(0)


def _analyzed_in_workers(
    suite: Suite, url: str, cases: list[Case], analyzers: int, progress: Progress | None
) -> list[CaseRun]:
    ctx = _context()
    todo: Any = ctx.Queue()
    results: Any = ctx.Queue()
    # forked before this process opens its recorder (no writer threads to inherit)
    procs = [
        ctx.Process(target=_analyzer, args=(suite, url, todo, results), daemon=True)
        for _ in range(analyzers)
    ]
    for p in procs:
        p.start()
    out: dict[int, CaseRun] = {}
    try:
        session = Session(suite, url)
        session.defer_diffs = True
        try:
            for index, case in enumerate(cases):
                todo.put((index, execute_case(session, case)))
                _collect(results, procs, out, len(cases), progress, block=False)
        finally:
            session.close()
        for _ in procs:
            todo.put(None)
        _collect(results, procs, out, len(cases), progress)
    finally:
        _stop(procs)
    return [out[i] for i in range(len(cases))]


def _analyzer(suite: Suite, url: str, todo: Any, results: Any) -> None:
    try:
        with Store.open(url) as store:
            while (item := todo.get()) is not None:
                index, run = item
                results.put(("ok", index, analyze(store, suite, run)))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the stage
        results.put(("error", -1, f"{type(e).__name__}: {e}"))
