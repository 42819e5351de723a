"""``replay``: re-execute a recorded run from any of its checkpoints, recorded as a new run.

The chosen checkpoint is copied — same checkpoint id, so LangGraph derives the same task ids
for the first replayed step — into a new thread of its own; the original thread is never
touched. Its pending writes are not copied: the tasks after it run again, and an interrupt
after the replay point fires again instead of being answered by a stale resume (LangGraph
issues 8837 and 7027). For a checkpoint inside a subgraph, the parent checkpoint the subgraph
task ran from is copied too, and the subgraph resumes from the chosen checkpoint, not from
its start. The graph runs from there with the cassette, swaps and faults active.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from weakref import WeakKeyDictionary

from langchain_core.language_models import BaseChatModel
from langgraph._internal._constants import CONFIG_KEY_RUNTIME
from langgraph.pregel import Pregel
from langgraph.types import Command

from lgaudit.checkpointer.runs import RUN_ID_KEY
from lgaudit.errors import BadInputError
from lgaudit.recorder import Recorder
from lgaudit.recorder.custom import recording_runtime
from lgaudit.replay.arguments import _is_async, _load_swaps
from lgaudit.replay.cassette import CASSETTE_FORMAT, Cassette
from lgaudit.replay.faults import FaultInjector
from lgaudit.replay.intercept import Interceptor
from lgaudit.replay.memory import replay_store
from lgaudit.replay.precheck import check_replay
from lgaudit.replay.spec import (
    REPLAY_SPEC_VERSION,
    CassetteMode,
    FaultSpec,
    load_graph,
    parse_fault,
    parse_patch,
)
from lgaudit.replay.start import choose, continued_from, replay_config, seed, state_to_patch
from lgaudit.replay.targets import check_targets, substitute_name
from lgaudit.store import Store
from lgaudit.store.records import EventRecord, NewRun, RunRecord


@dataclass(frozen=True)
class ReplayResult:
    """What ``lgaudit replay --json`` prints; the replayed run is in the store."""

    run_id: str
    parent_run_id: str
    from_checkpoint: str
    status: str
    cassette: str
    swaps: dict[str, str] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    thread_id: str | None = None
    from_step: int | None = None
    checkpoint_ns: str = ""
    live_calls: int = 0
    faults_injected: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def replay(
    run: str,
    *,
    graph: str | Pregel,
    url: str | None = None,
    from_checkpoint: str | None = None,
    from_step: int | None = None,
    from_node: str | None = None,
    cassette: str | CassetteMode = CassetteMode.STRICT,
    swaps: Mapping[str, str | BaseChatModel] | Sequence[str] = (),
    faults: Sequence[str | FaultSpec] = (),
    patch: Mapping[str, Any] | str | None = None,
    environment: str | None = None,
    use_async: bool | None = None,
) -> ReplayResult:
    """Replay a recorded run and record the replay as a new run.

    Args:
        run: run id or unique prefix (6+ characters).
        graph: the graph to execute: ``module:attr`` (a compiled graph, a ``StateGraph``
            builder or a zero-argument factory of either) or a compiled graph.
        from_checkpoint / from_step / from_node: where to start (at most one): a checkpoint
            id (or unique prefix) of the run, in any namespace; the root checkpoint recorded
            at that step (execution continues with the next step); or the checkpoint just
            before the node's first execution. Default: the run's first checkpoint.
        cassette: ``strict`` (default), ``lenient`` or ``off``.
        swaps: model name (or ``*``) -> substitute chat model or ``module:attr``; also
            accepted as ``["NAME=module:attr", ...]``.
        faults: ``TARGET[:ExcType[:message]][@attempt]`` strings or ``FaultSpec``.
        patch: state values (mapping or JSON object text) applied at the checkpoint with
            ``update_state`` semantics before re-executing (recorded as ``state_update``).
        use_async: run with ``ainvoke``; ``None`` decides from the graph (async-only nodes).

    Bad input raises ``BadInputError`` before anything is recorded. A replay whose graph
    fails is still a recorded run: its ``status`` is ``failed`` and ``error`` says why.
    """
    where = (from_checkpoint, from_step, from_node)
    check_replay(
        run, graph=graph, url=url, where=where, cassette=cassette, swaps=swaps,
        faults=faults, patch=patch,
    )  # fmt: skip
    mode = CassetteMode.parse(cassette)
    fault_specs = [f if isinstance(f, FaultSpec) else parse_fault(f) for f in faults]
    swap_models, swap_refs = _load_swaps(swaps)
    patch_values = parse_patch(patch)
    compiled = load_graph(graph) if isinstance(graph, str) else graph
    graph_ref = graph if isinstance(graph, str) else compiled.get_name()

    with Store.open(url) as store:
        plan = _plan(
            store, run, compiled, mode, fault_specs, swap_models, patch_values, where
        )  # fmt: skip
        url = store.url

    recorder = Recorder(url, environment=environment or plan.source["environment"])
    try:
        return _run_plan(
            recorder, compiled, plan, mode, swap_models, swap_refs, fault_specs,
            patch_values, graph_ref, use_async,
        )  # fmt: skip
    finally:
        recorder.close()


def replay_with(
    recorder: Recorder,
    run: str,
    *,
    graph: Pregel,
    graph_ref: str | None = None,
    cassette: str | CassetteMode = CassetteMode.STRICT,
    swaps: Mapping[str, str | BaseChatModel] | Sequence[str] = (),
    faults: Sequence[str | FaultSpec] = (),
    use_async: bool | None = None,
    spec: Mapping[str, Any] | None = None,
    tools_from_recording: bool = False,
) -> ReplayResult:
    """``replay`` from its first checkpoint on an open recorder and an imported graph: what
    a caller replaying many runs uses (``lgaudit stage``), paying for neither a store nor
    a writer nor an import per replay. The replay is recorded in the recorder's store and
    environment; ``spec`` is added to its replay spec (which case of which suite it is).
    ``tools_from_recording``: tool calls are served from the recording whatever the
    cassette mode (a strict miss for a call it lacks), never made live (``lgaudit
    shadow``); the replay spec says ``"tools": "recording"``."""
    mode = CassetteMode.parse(cassette)
    fault_specs = [f if isinstance(f, FaultSpec) else parse_fault(f) for f in faults]
    swap_models, swap_refs = _load_swaps(swaps)
    plan = _plan(
        recorder.store, run, graph, mode, fault_specs, swap_models, None, (None,) * 3,
        need_tape=tools_from_recording,
    )  # fmt: skip
    if tools_from_recording:
        spec = {**(spec or {}), "tools": "recording"}
    return _run_plan(
        recorder, graph, plan, mode, swap_models, swap_refs, fault_specs, None,
        graph_ref or graph.get_name(), use_async, spec,
    )  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    """Where a replay starts and what it is given, read from the store."""

    source: RunRecord
    start: EventRecord
    checkpoints: list[EventRecord]
    tape: Cassette | None
    inputs: Any
    recorded_config: dict[str, Any] | None
    carried: frozenset[tuple[str, str]]


def _plan(
    store: Store,
    run: str,
    compiled: Pregel,
    mode: CassetteMode,
    fault_specs: list[FaultSpec],
    swap_models: dict[str, BaseChatModel],
    patch_values: dict[str, Any] | None,
    where: tuple[str | None, int | None, str | None],
    *,
    need_tape: bool = False,
) -> _Plan:
    from_checkpoint, from_step, from_node = where
    source = store.run(run)
    events = store.events(source["run_id"])
    check_targets(compiled, events, fault_specs, swap_models, patch_values)
    checkpoints = [e for e in events if e["kind"] == "checkpoint"]
    if not checkpoints:
        raise BadInputError(f"run {source['run_id']} recorded no checkpoint to replay from")
    start = choose(store, source["run_id"], checkpoints, from_checkpoint, from_step, from_node)
    chosen = where != (None, None, None)
    if patch_values is not None and start["payload"].get("source") == "input":
        start = state_to_patch(start, checkpoints, explicit=chosen)
    inputs: Any = None
    carried: frozenset[tuple[str, str]] = frozenset()
    if not chosen and patch_values is None:
        continued = continued_from(store, source, events, checkpoints)
        if continued is not None:  # a resume: replay the human's answer too
            start, inputs, carried = continued
    tape = (
        Cassette(store, source["run_id"], events)
        if mode is not CassetteMode.OFF or need_tape
        else None
    )
    recorded_config = next(
        (e["payload"].get("config") for e in events if e["kind"] == "run_start"), None
    )
    return _Plan(source, start, checkpoints, tape, inputs, recorded_config, carried)


def _run_plan(
    recorder: Recorder,
    compiled: Pregel,
    plan: _Plan,
    mode: CassetteMode,
    swap_models: dict[str, BaseChatModel],
    swap_refs: dict[str, str],
    fault_specs: list[FaultSpec],
    patch_values: dict[str, Any] | None,
    graph_ref: str,
    use_async: bool | None,
    extra_spec: Mapping[str, Any] | None = None,
) -> ReplayResult:
    recorder.callback.model_aliases = {n: substitute_name(m) for n, m in swap_models.items()}
    return _execute(
        recorder,
        _attached(recorder, compiled),
        plan.source,
        plan.start,
        plan.checkpoints,
        plan.tape,
        mode,
        swap_models,
        swap_refs,
        fault_specs,
        patch_values,
        graph_ref,
        use_async,
        plan.inputs,
        plan.recorded_config,
        plan.carried,
        extra_spec,
    )


_ATTACHED: WeakKeyDictionary[Recorder, dict[int, tuple[Pregel, Any]]] = WeakKeyDictionary()


def _attached(recorder: Recorder, compiled: Pregel) -> Any:
    """The graph bound to the recorder, without its own checkpointer (the replay's thread
    lives in the store); made once per recorder and graph (building LangGraph's serde
    allowlist costs more than a small replay)."""
    graphs = _ATTACHED.setdefault(recorder, {})
    known = graphs.get(id(compiled))
    if known is None or known[0] is not compiled:
        known = (compiled, recorder.attach(compiled.copy(update={"checkpointer": None})))
        graphs[id(compiled)] = known
    return known[1]


def _execute(
    recorder: Recorder,
    graph: Any,
    source: RunRecord,
    start: EventRecord,
    checkpoints: list[EventRecord],
    tape: Cassette | None,
    mode: CassetteMode,
    swap_models: dict[str, BaseChatModel],
    swap_refs: dict[str, str],
    faults: list[FaultSpec],
    patch_values: dict[str, Any] | None,
    graph_ref: str,
    use_async: bool | None,
    inputs: Any = None,
    recorded_config: dict[str, Any] | None = None,
    carried: frozenset[tuple[str, str]] = frozenset(),
    extra_spec: Mapping[str, Any] | None = None,
) -> ReplayResult:
    run_id = str(uuid.uuid4())
    thread_id = f"{source['thread_id']}~replay-{run_id[:8]}"
    step_shift = 1 if patch_values is not None and not start["checkpoint_ns"] else 0
    spec = {
        "version": REPLAY_SPEC_VERSION,
        "cassette_format": CASSETTE_FORMAT,
        "from_checkpoint": start["checkpoint_id"],
        "from_step": start["step"],
        "checkpoint_ns": start["checkpoint_ns"] or "",
        "source_thread_id": source["thread_id"],
        "cassette": mode.value,
        "swaps": swap_refs,
        "faults": [f.text for f in faults],
        "patch": patch_values,
        # LangGraph records a patch (``update_state``) as a step of its own: the top-level
        # steps after it run one ahead of the recorded run's
        "step_shift": step_shift,
        **({"resume": recorder.jsonable(inputs.resume)} if isinstance(inputs, Command) else {}),
        **(extra_spec or {}),
    }
    new_run = NewRun(
        run_id=run_id,
        thread_id=thread_id,
        parent_run_id=source["run_id"],
        graph=graph_ref,
        environment=recorder.environment,
        replay=spec,
    )
    recorder.runs.register(new_run)
    recorder.runs.mark_started(run_id)
    recorder.record(
        new_run,
        "run_start",
        {
            "graph": graph_ref,
            "operation": "replay",
            "replay": spec,
            "recorder": recorder.live_id(),
            "kill_switch": recorder.kill_switch,
            # what the replay runs under (a replay of it runs under it too; audit scopes by it)
            **({"config": recorded_config} if recorded_config is not None else {}),
        },
        checkpoint_ns="",
    )
    meta = {RUN_ID_KEY: run_id}
    # a run that recorded checkpoints ran on a thread (LangGraph's checkpointer requires one)
    source_thread = cast(str, source["thread_id"])
    seed(graph.checkpointer, source_thread, thread_id, start, checkpoints, meta, carried)
    injector = FaultInjector(recorder, faults)
    interceptor = Interceptor(recorder, tape, mode, swap_models, swap_refs)
    if (extra_spec or {}).get("tools") == "recording":
        interceptor.tool_mode = CassetteMode.STRICT
    memory = replay_store(getattr(graph, "store", None), tape, mode, interceptor)
    runtime = recording_runtime(
        None, recorder.callback.on_stream_write, memory, recorder.memory.wrap
    )
    config = replay_config(recorded_config, checkpoints, start)
    config["configurable"] = {
        **config.get("configurable", {}),
        "thread_id": thread_id,
        CONFIG_KEY_RUNTIME: runtime,
    }
    config["metadata"] = {**config.get("metadata", {}), **meta}
    config["run_id"] = uuid.UUID(run_id)
    config["callbacks"] = [*recorder.handlers(), injector]  # the kill check first
    error: str | None = None
    if patch_values is not None:
        recorder.record(
            new_run,
            "state_update",
            {"values": recorder.jsonable(patch_values), "as_node": None, "task_id": None},
            checkpoint_ns="",
        )
        try:
            graph.update_state(config, patch_values)
            interceptor.step_shift = step_shift
        except Exception as e:  # noqa: BLE001 - a patch LangGraph refuses fails the replay
            error = f"--patch was refused by the graph: {type(e).__name__}: {e}"
            recorder.record(
                new_run,
                "run_error",
                {
                    "status": "failed",
                    "error": {"type": type(e).__name__, "message": str(e), "injected": False},
                },
            )
    if error is None:
        run_async = _is_async(graph) if use_async is None else use_async
        try:
            with interceptor.active():
                # each checkpoint saved before the next step, as in recorded runs
                if run_async:
                    asyncio.run(graph.ainvoke(inputs, config, durability="sync"))
                else:
                    graph.invoke(inputs, config, durability="sync")
        except Exception as e:  # noqa: BLE001 - the failure is the replay's result
            error = f"{type(e).__name__}: {e}"
    recorder.release_run(new_run)  # a refused patch never started the graph: nor ended it
    recorder.flush()
    record = recorder.store.run(run_id)
    return ReplayResult(
        run_id=run_id,
        parent_run_id=source["run_id"],
        from_checkpoint=cast(str, start["checkpoint_id"]),  # set on every checkpoint event
        status=record["status"],
        cassette=mode.value,
        swaps=swap_refs,
        faults=[f.text for f in faults],
        thread_id=thread_id,
        from_step=start["step"],
        checkpoint_ns=start["checkpoint_ns"] or "",
        live_calls=interceptor.live_calls,
        faults_injected=injector.injected,
        error=error,
    )
