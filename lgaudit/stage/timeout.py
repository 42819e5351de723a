"""``[suite] case_timeout_s``: a case still running is stopped, outcome ``timeout``.

Each case runs in a thread of its own under a ``CaseControl`` (a context variable, so
LangGraph's task threads see it too). ``StageControls``, one callback handler on the
session's recorder, notes the case's runs and the node tasks it is inside. When the time is
up the case is told to stop: its next node, model or tool call raises ``GuardTripped``
(rule ``stage.timeout``) and the run ends ``failed`` as a kill order ends it. A node blocked
in Python (waiting forever on an event, a deadlock) never makes that call: after a grace
period its open nodes and its runs are ended from outside — ``node_error`` and ``run_error``
recorded through the recording callback with the same reason — and the thread is abandoned,
so nothing is left ``running`` and the stage goes on to its verdict.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from lgaudit.errors import GuardTripped
from lgaudit.events.payloads import model_name

if TYPE_CHECKING:
    from lgaudit.recorder import Recorder

#: seconds a stopped case has to reach its next call before it is ended from outside
GRACE_S = 2.0

CURRENT: ContextVar[CaseControl | None] = ContextVar("lgaudit_stage_case", default=None)

#: the threads of cases ended from outside (a node blocked in Python still holds them)
ABANDONED: list[threading.Thread] = []


def stuck() -> bool:
    """Whether a case thread ended from outside is still blocked: LangGraph's task threads
    under it would hold this process's exit (``lgaudit stage`` exits at once instead)."""
    return any(t.is_alive() for t in ABANDONED)


class CaseControl:
    """One case's runs and open node tasks, and whether it was told to stop."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.roots: set[str] = set()  # runs whose root chain has not ended yet
        self.open: dict[UUID, str] = {}  # LangChain run id of a node task -> node name
        self.stopped: str | None = None
        self.lock = threading.Lock()

    def nodes(self) -> list[str]:
        with self.lock:
            return sorted(set(self.open.values()))

    def check(self, what: str) -> None:
        if self.stopped is not None:
            raise GuardTripped("stage.timeout", f"{self.stopped}: stopped {what}")


class StageControls(BaseCallbackHandler):
    """Follows the current case's runs and node tasks; stops a case told to stop."""

    raise_error = True
    run_inline = True

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        case = CURRENT.get()
        if case is None:
            return
        md = metadata or {}
        run = self.recorder.runs.in_progress(md, run_id, kwargs.get("parent_run_id"))
        if run is None:
            return
        if str(run_id) == run.run_id:
            with case.lock:
                if run.run_id not in case.runs:
                    case.runs.append(run.run_id)
                case.roots.add(run.run_id)
            return
        name = kwargs.get("name")
        if self.recorder.callback.is_task(run_id, name, tags, md):
            case.check(f"node {name}")
            with case.lock:
                case.open[run_id] = str(name)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id)

    def _ended(self, run_id: UUID) -> None:
        case = CURRENT.get()
        if case is not None:
            with case.lock:
                case.open.pop(run_id, None)
                case.roots.discard(str(run_id))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._model(serialized, kwargs)

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        self._model(serialized, kwargs)

    def _model(self, serialized: Any, kwargs: dict[str, Any]) -> None:
        case = CURRENT.get()
        if case is not None and case.stopped is not None:
            params = dict(kwargs.get("invocation_params") or {})
            md = kwargs.get("metadata") or {}
            case.check(f"model {model_name(serialized, params, md, kwargs.get('name'))}")

    def on_tool_start(self, serialized: Any, input_str: str, **kwargs: Any) -> None:
        case = CURRENT.get()
        if case is not None:
            case.check(f"tool {(serialized or {}).get('name') or kwargs.get('name')}")


def install(recorder: Recorder) -> None:
    """Put ``StageControls`` among the recorder's handlers, after its kill check and guard
    and before the recording callback (which then records what a stop raised)."""
    if getattr(recorder, "_lgaudit_stage_controls", False):
        return
    controls = StageControls(recorder)
    own = recorder.handlers

    def handlers() -> list[BaseCallbackHandler]:
        base = own()
        return [*base[:-1], controls, base[-1]]

    recorder.handlers = handlers  # type: ignore[method-assign]
    recorder._lgaudit_stage_controls = True  # type: ignore[attr-defined]


class Finished:
    """What ``run_limited`` gives: the function's value (or its exception), or ``None``
    with ``timed_out`` and the nodes the case was inside."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.timed_out = False
        self.nodes: list[str] = []
        self.runs: list[str] = []


def run_limited(recorder: Recorder, fn: Callable[[], Any], timeout_s: float | None) -> Finished:
    """Run ``fn`` as a case (under its own ``CaseControl``); with ``timeout_s``, in a thread
    of its own, stopped when the time is up."""
    case = CaseControl()
    done = Finished()

    def body() -> None:
        CURRENT.set(case)
        try:
            done.value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            done.error = e

    ctx = contextvars.copy_context()
    if timeout_s is None:
        ctx.run(body)
    else:
        thread = threading.Thread(target=ctx.run, args=(body,), name="lgaudit-case", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            done.timed_out = True
            done.nodes = case.nodes()
            case.stopped = f"case_timeout_s = {timeout_s:g} exceeded"
            thread.join(GRACE_S)
            if thread.is_alive():
                _end_from_outside(recorder, case)
                ABANDONED.append(thread)
    done.runs = list(case.runs)
    return done


def _end_from_outside(recorder: Recorder, case: CaseControl) -> None:
    """End a stuck case's open nodes and runs through the recording callback (which then
    forgets them: a thread waking up later records nothing more for them)."""
    error = GuardTripped("stage.timeout", f"{case.stopped}: the case was stopped from outside")
    with case.lock:
        open_tasks, roots = list(case.open), list(case.roots)
    for task in open_tasks:
        recorder.callback.on_chain_error(error, run_id=task)
    for run_id in roots:
        recorder.callback.on_chain_error(error, run_id=UUID(run_id))
    recorder.flush()
