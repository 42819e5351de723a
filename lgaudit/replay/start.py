"""Where a replay starts: the checkpoint chosen (by id, step or node), a resumed run's
gate and answer, the copy of the start checkpoint into the replay's own thread, and the
config the replay runs under."""

from __future__ import annotations

from typing import Any, cast

from langgraph._internal._constants import INTERRUPT, NULL_TASK_ID, RESUME
from langgraph.types import Command

from lgaudit.errors import BadInputError
from lgaudit.store import Store
from lgaudit.store.records import EventRecord, RunRecord


def replay_config(
    recorded: dict[str, Any] | None, checkpoints: list[EventRecord], start: EventRecord
) -> dict[str, Any]:
    """The config a replay runs under: the recorded run's own (recursion limit, tags,
    metadata, configurable keys), so managed values such as ``remaining_steps`` are what
    they were. A run recorded before configs were kept gets room for its steps.

    LangGraph counts the limit from the step after the checkpoint a call loads; the
    recorded run loaded the one before its first checkpoint, a replay loads ``start``:
    the limit is shifted by the steps between, so every step has the steps it had left."""
    if recorded is None:
        return {"recursion_limit": max(25, 2 * len(checkpoints) + 25)}
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in recorded.items()}
    roots = [c for c in checkpoints if not c["checkpoint_ns"] and c["step"] is not None]
    limit = config.get("recursion_limit")
    if (
        isinstance(limit, int)
        and roots
        and not start["checkpoint_ns"]
        and start["step"] is not None
    ):
        loaded = cast(int, min(roots, key=lambda c: c["seq"])["step"]) - 1
        config["recursion_limit"] = max(1, limit + loaded - start["step"])
    return config


def seed(
    saver: Any,
    source_thread: str,
    thread_id: str,
    start: EventRecord,
    checkpoints: list[EventRecord],
    meta: dict[str, Any],
    carried: frozenset[tuple[str, str]] = frozenset(),
) -> None:
    """Copy the start checkpoint (and, inside a subgraph, its parent's) into the new thread,
    with the ``carried`` writes saved on it (task id, channel): what tasks saved before a
    resume."""
    ns = start["checkpoint_ns"] or ""
    chain = [(ns, start["checkpoint_id"])]
    parents = start["payload"].get("parents") or {}
    for parent_ns in sorted(parents, key=len, reverse=True):
        if parent_ns != ns:
            chain.append((parent_ns, parents[parent_ns]))
    for checkpoint_ns, checkpoint_id in reversed(chain):
        tup = saver.get_tuple(
            {
                "configurable": {
                    "thread_id": source_thread,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": checkpoint_id,
                }
            }
        )
        if tup is None:
            raise BadInputError(f"checkpoint {checkpoint_id} is not readable in the store")
        checkpoint = dict(tup.checkpoint)
        seeded = saver.put(
            {
                "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns},
                "metadata": meta,
            },
            checkpoint,
            dict(tup.metadata),
            dict(checkpoint["channel_versions"]),
        )
        writes: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in tup.pending_writes or ():
            if (task_id, channel) in carried:
                writes.setdefault(task_id, []).append((channel, value))
        for task_id, task_writes in writes.items():
            saver.put_writes({**seeded, "metadata": meta}, task_writes, task_id)


def choose(
    store: Store,
    run_id: str,
    checkpoints: list[EventRecord],
    checkpoint_id: str | None,
    step: int | None,
    node: str | None,
) -> EventRecord:
    root = [c for c in checkpoints if not c["checkpoint_ns"]]
    if checkpoint_id is not None:
        found = [c for c in checkpoints if cast(str, c["checkpoint_id"]).startswith(checkpoint_id)]
        ids = {c["checkpoint_id"] for c in found}
        if len(ids) != 1:
            what = "no" if not ids else "more than one"
            raise BadInputError(
                f"{what} checkpoint of run {run_id[:12]} matches {checkpoint_id!r}"
                f": `lgaudit checkpoints {run_id[:12]}` lists them"
            )
        return found[-1]
    if step is not None:
        at = [c for c in root if c["step"] == step]
        if not at:
            steps = sorted({c["step"] for c in root if c["step"] is not None})
            raise BadInputError(
                f"run {run_id[:12]} has no checkpoint at step {step}: steps {steps[0]}..{steps[-1]}"
            )
        return at[-1]
    if node is not None:
        starts = [e for e in store.events(run_id, kinds=["node_start"]) if e["node"] == node]
        if not starts:
            raise BadInputError(f"node {node!r} never ran in run {run_id[:12]}")
        first = starts[0]
        ns = first["checkpoint_ns"] or ""
        before = [
            c
            for c in checkpoints
            if (c["checkpoint_ns"] or "") == ns
            and c["step"] is not None
            and c["step"] < (first["step"] or 0)
        ]
        if not before:
            raise BadInputError(f"no checkpoint precedes node {node!r} in run {run_id[:12]}")
        return max(before, key=lambda c: (c["step"], c["seq"]))
    return min(root or checkpoints, key=lambda c: c["seq"])


def continued_from(
    store: Store, source: RunRecord, events: list[EventRecord], checkpoints: list[EventRecord]
) -> tuple[EventRecord, Command | None, frozenset[tuple[str, str]]] | None:
    """For a run that continued its thread — resumed it (``Command(resume=...)``), or ran on
    from an earlier run's checkpoint with no input (``invoke(None, config)`` after an
    ``update_state`` or a breakpoint): the checkpoint it continued from, where its first
    tasks wait, and the resume it gave, so the replay runs those tasks (with the recorded
    answer) instead of starting after them."""
    resumes = [e for e in events if e["kind"] == "resume"]
    roots = [c for c in checkpoints if not c["checkpoint_ns"]]
    if not roots or not source["thread_id"]:
        return None
    first = min(roots, key=lambda c: c["seq"])
    if not resumes and first["payload"].get("source") != "loop":
        return None  # a new input, a fork of an old checkpoint: its own checkpoint is first
    parent_id = first["payload"].get("parent_checkpoint_id")
    if not parent_id or any(c["checkpoint_id"] == parent_id for c in checkpoints):
        return None
    before = store.thread_events(source["thread_id"], upto_gseq=events[0]["gseq"] - 1)
    earlier = [
        e
        for e in before
        if e["kind"] == "checkpoint" and not e["checkpoint_ns"] and e["checkpoint_id"] == parent_id
    ]
    asked = [e for e in before if e["kind"] == "interrupt"]
    if not earlier or (resumes and not asked) or any(e["checkpoint_ns"] for e in asked[-1:]):
        return None  # an interrupt inside a subgraph: its checkpoints are not copied
    # what tasks saved there before the resume (a finished Functional API task, a parallel
    # branch): the resume took those writes instead of running them again. The interrupt
    # is asked again by the task the resume answers, as when the run was recorded.
    carried = frozenset(
        (cast(str, e["task_id"]), str(w["channel"]))
        for e in before
        if e["kind"] == "writes"
        and not e["checkpoint_ns"]
        and e["checkpoint_id"] == parent_id
        and e["task_id"] not in (None, NULL_TASK_ID)
        for w in e["payload"].get("writes") or ()
        if w.get("channel") not in (RESUME, INTERRUPT)
    )
    resume: Command[Any] | None = None
    if resumes:
        resume = Command(resume=resumes[0]["payload"].get("value"))
    return earlier[0], resume, carried


def state_to_patch(
    start: EventRecord, checkpoints: list[EventRecord], *, explicit: bool
) -> EventRecord:
    """A patch changes state: the input checkpoint holds none yet (the input is still to be
    applied), so by default a patched replay starts from the checkpoint after it."""
    after = [
        c
        for c in checkpoints
        if (c["checkpoint_ns"] or "") == (start["checkpoint_ns"] or "")
        and c["payload"].get("parent_checkpoint_id") == start["checkpoint_id"]
    ]
    if explicit or not after:
        raise BadInputError(
            f"--patch cannot apply at the input checkpoint (step {start['step']}): it holds "
            "no state yet; replay from --from-step 0 or later"
        )
    return after[0]
