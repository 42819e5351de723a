"""``[pending]``: threads parked at an interrupt when the candidate ships, resumed on it.

Each selected thread (its latest run ``interrupted`` in ``environment``, newest first up to
``limit``) has its latest checkpoint copied into a staging thread of its own — the replay
engine's ``seed``: the checkpoint and the writes its finished tasks saved, put through the
recorder's checkpointer on a new thread id, inside the resume's run, so production's thread
is only read — and is resumed there on the candidate with ``answer``, tools through the
sandbox. Outcome ``resumes``, or ``broken`` with the reason: a node the thread waits at that
the candidate lacks (renamed or removed), a stored value the candidate's state schema
refuses, an error on resume, or a thread still interrupting after ``MAX_ANSWERS`` answers.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from langgraph._internal._constants import INTERRUPT, NULL_TASK_ID, RESUME
from langgraph.types import Command
from pydantic import BaseModel, ValidationError

from lgaudit.checkpointer.runs import RUN_ID_KEY
from lgaudit.replay.engine import _attached
from lgaudit.replay.intercept import Interceptor
from lgaudit.replay.spec import CassetteMode
from lgaudit.replay.start import seed
from lgaudit.stage.cases import Case, CaseRun
from lgaudit.stage.checks import Check, failed
from lgaudit.stage.suite import Suite
from lgaudit.store import NewRun, RunRecord, Store

if TYPE_CHECKING:
    from lgaudit.stage.session import Session

#: a thread still interrupting after this many answers re-interrupts in a loop
MAX_ANSWERS = 10
_BRANCH = "branch:to:"


def select_pending(store: Store, suite: Suite) -> list[RunRecord]:
    """The latest runs of the threads waiting at an interrupt, newest first."""
    p = suite.pending
    assert p is not None
    picked: list[RunRecord] = []
    seen: set[str] = set()
    for r in store.runs(status="interrupted", environment=p.environment, limit=None):
        thread = r["thread_id"]
        if r["replay"] is not None or thread is None or thread in seen:
            continue
        seen.add(thread)
        latest = store.runs(thread_id=thread, limit=1)
        if latest and latest[0]["run_id"] == r["run_id"]:
            picked.append(r)
        if len(picked) >= p.limit:
            break
    return picked


def pending_case_list(store: Store, suite: Suite) -> list[Case]:
    return [
        Case(f"pending {r['thread_id']}", "pending", source_run_id=r["run_id"])
        for r in select_pending(store, suite)
    ]


def run_pending(session: Session, case: Case) -> CaseRun:
    """Copy the thread of ``case.source_run_id`` and resume the copy on the candidate."""
    store, recorder = session.recorder.store, session.recorder
    assert case.source_run_id is not None
    source = store.run(case.source_run_id)
    thread = str(source["thread_id"])
    start = _latest_checkpoint(store, thread)
    out = CaseRun(case.name, "pending", None, source["run_id"], "interrupted", "broken")
    if start is None:
        out.detail = f"thread {thread} has no checkpoint to copy"
        return out
    graph = _attached(recorder, session.candidate)
    tup = graph.checkpointer.get_tuple(
        {"configurable": {"thread_id": thread, "checkpoint_ns": "",
                          "checkpoint_id": start["checkpoint_id"]}}
    )  # fmt: skip
    values = dict(tup.checkpoint["channel_values"]) if tup is not None else {}
    why = _unfit(session.candidate, values)
    if why is not None:
        out.detail = why
        return out
    run_id = str(uuid.uuid4())
    copy = f"{thread}~pending-{run_id[:8]}"
    spec = {
        "stage": session.spec(case.name, "pending"),
        "source_thread_id": thread,
        "from_checkpoint": start["checkpoint_id"],
        "from_step": start["step"],
    }
    run = NewRun(
        run_id=run_id,
        thread_id=copy,
        parent_run_id=source["run_id"],
        graph=session.suite.graph,
        environment=recorder.environment,
        replay=spec,
    )
    recorder.runs.register(run)
    recorder.runs.mark_started(run_id)
    recorder.record(run, "run_start", {
        "graph": session.suite.graph, "operation": "pending", "replay": spec,
        "recorder": recorder.live_id(), "kill_switch": recorder.kill_switch,
    }, checkpoint_ns="")  # fmt: skip
    meta = {RUN_ID_KEY: run_id, "lgaudit_replay": spec}
    seed(graph.checkpointer, thread, copy, start, [start], meta, _carried(store, thread, start))
    answer = session.pending_answer
    assert answer is not None
    asked = _asked(tup)
    config: dict[str, Any] = {
        "configurable": {"thread_id": copy},
        "metadata": meta,
        "run_id": uuid.UUID(run_id),  # the run the copy belongs to: its handlers are given
        "callbacks": recorder.handlers(),
    }
    interceptor = Interceptor(recorder, None, CassetteMode.OFF, {}, {})
    rounds, error, waiting = 0, None, []
    with interceptor.active():
        while True:
            try:
                graph.invoke(Command(resume=answer(asked)), config, durability="sync")
            except Exception as e:  # noqa: BLE001 - the failure is the case's result
                error = f"{type(e).__name__}: {e}"
                break
            rounds += 1
            waiting = [(t.name, i) for t in graph.get_state(config).tasks for i in t.interrupts]
            if not waiting or rounds >= MAX_ANSWERS:
                break
            asked = waiting[0][1].value
            config = {"configurable": {"thread_id": copy}, "metadata": {"lgaudit_replay": spec}}
    recorder.release_run(run)
    recorder.flush()
    out.runs = [r["run_id"] for r in reversed(store.runs(thread_id=copy, limit=None))]
    out.run_id = out.runs[-1] if out.runs else run_id
    out.status = store.run(out.run_id)["status"]
    if error is not None:
        out.detail = f"error on resume: {error}"
    elif out.status == "interrupted":
        gates = sorted({name for name, _ in waiting})
        out.detail = (
            f"still interrupting at {', '.join(gates)} after {MAX_ANSWERS} answers "
            "(a re-interrupt loop)"
        )
    elif out.status != "succeeded":
        out.detail = f"the resumed run ended {out.status}"
    else:
        out.outcome = "resumes"
    return out


def _latest_checkpoint(store: Store, thread: str) -> Any:
    points = [
        e
        for e in store.thread_events(thread)
        if e["kind"] == "checkpoint" and not e["checkpoint_ns"]
    ]
    return points[-1] if points else None


def _carried(store: Store, thread: str, start: Any) -> frozenset[tuple[str, str]]:
    """What finished tasks saved on the checkpoint (a parallel branch): copied with it. The
    interrupt itself is asked again by the task the answer resumes."""
    return frozenset(
        (str(e["task_id"]), str(w["channel"]))
        for e in store.thread_events(thread)
        if e["kind"] == "writes"
        and not e["checkpoint_ns"]
        and e["checkpoint_id"] == start["checkpoint_id"]
        and e["task_id"] not in (None, NULL_TASK_ID)
        for w in e["payload"].get("writes") or ()
        if w.get("channel") not in (RESUME, INTERRUPT)
    )


def _asked(tup: Any) -> Any:
    """The value of the interrupt the thread waits at (``None`` for a breakpoint)."""
    for _task, channel, value in (tup.pending_writes if tup is not None else ()) or ():
        if channel == INTERRUPT and value:
            first = value[0] if isinstance(value, list | tuple) else value
            return getattr(first, "value", first)
    return None


def _unfit(candidate: Any, values: dict[str, Any]) -> str | None:
    """Why the candidate cannot take the thread up: a node it waits at that the candidate
    lacks, or a stored value its state schema refuses."""
    nodes = set(getattr(candidate, "nodes", {}) or {})
    waiting = sorted(ch[len(_BRANCH) :] for ch in values if ch.startswith(_BRANCH))
    missing = [n for n in waiting if n not in nodes]
    if missing:
        has = ", ".join(sorted(n for n in nodes if not n.startswith("__")))
        return (
            f"the thread waits at node {', '.join(missing)}, which the candidate has no more "
            f"(renamed or removed; its nodes: {has})"
        )
    builder = getattr(candidate, "builder", None)
    schema = getattr(builder, "state_schema", None)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        stored = {k: v for k, v in values.items() if k in schema.model_fields}
        try:
            schema.model_validate(stored)
        except ValidationError as e:
            refused = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])} = {err.get('input')!r}: {err['msg']}"
                for err in e.errors()
            )
            return f"the candidate's state schema {schema.__name__} refuses the stored {refused}"
    return None


def pending_check(cases: list[CaseRun]) -> Check:
    runs = [c for c in cases if c.kind == "pending"]
    if not runs:
        return Check(
            "pending", False, "no pending thread to resume: no [pending] table, or none waits"
        )
    broken = [c for c in runs if c.outcome != "resumes"]
    if broken:
        return failed(
            "pending",
            f"{len(broken)} of {len(runs)} pending thread(s) broken",
            [f"{c.case}: {c.detail}" for c in broken],
            [c.case for c in broken],
        )
    return Check("pending", True, f"all {len(runs)} pending threads resume on the candidate")
