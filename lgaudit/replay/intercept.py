"""Interception during a replay: cassette answers and swapped models.

Model calls are intercepted where every LangChain chat model call passes —
``BaseChatModel._generate_with_cache`` (and its async twin) — so LangChain's callbacks still
fire and the replayed run records ``llm_start``/``llm_end`` as usual. Tool calls are served
from inside ``BaseTool.run``/``arun``: the callbacks fire, but a recorded tool's own
``_run`` (its side effect) never runs. The patches are installed once and are inert unless a
replay in this context activated an ``Interceptor``. Faults are injected by
``lgaudit.replay.faults``.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool
from langgraph.config import get_store

from lgaudit.checkpointer.runs import RUN_ID_KEY
from lgaudit.errors import CassetteMissError, ReplayError
from lgaudit.events.memory_ops import recorded_op
from lgaudit.events.payloads import model_name, task_context
from lgaudit.replay.cassette import (
    Cassette,
    RecordedCall,
    TaskKey,
    TaskRef,
    args_hash,
    describe,
    request_hash,
    task_key,
)
from lgaudit.replay.spec import CassetteMode

if TYPE_CHECKING:
    from lgaudit.recorder import Recorder


_ACTIVE: ContextVar[Interceptor | None] = ContextVar("lgaudit_interceptor", default=None)
_SERVE: ContextVar[Any] = ContextVar("lgaudit_tool_serve", default=None)
#: a tool sandbox (``lgaudit stage``'s ``[tools]``): asked about each tool call about to
#: run live, it answers with a zero-argument callable serving it (a stand-in, or a refusal
#: that raises) or ``None`` to let it run
SANDBOX: ContextVar[Any] = ContextVar("lgaudit_tool_sandbox", default=None)
_PATCH_LOCK = threading.Lock()
_ORIGINAL: dict[str, Any] = {}


class RecordedToolError(ReplayError):
    """A tool or model call that failed in the recorded run, failing the same way again."""


class Interceptor:
    """Answers model and tool calls of one replay from its cassette or swapped models."""

    def __init__(
        self,
        recorder: Recorder,
        cassette: Cassette | None,
        mode: CassetteMode,
        swaps: dict[str, BaseChatModel],
        swap_refs: dict[str, str],
    ) -> None:
        self.recorder = recorder
        self.cassette = cassette
        self.mode = mode
        #: how tool calls are answered: the cassette's mode, or strict (``lgaudit shadow``:
        #: tools never run live)
        self.tool_mode = mode
        self.swaps = swaps
        self.swap_refs = swap_refs
        self.live_calls = 0
        #: steps the graph's top level runs ahead of the recorded run (a patch applied with
        #: ``update_state`` is a step of its own)
        self.step_shift = 0
        self._counters: dict[Any, int] = defaultdict(int)
        self._lock = threading.Lock()

    @contextmanager
    def active(self) -> Iterator[Interceptor]:
        _install_patches()
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    # -- keys --------------------------------------------------------------------------

    def _lookup(self, task_id: str) -> TaskRef | None:
        info = self.recorder.callback.task_info(task_id)
        return TaskRef(info.node, info.step, "/".join(info.path)) if info else None

    def _key(self, metadata: dict[str, Any] | None) -> TaskKey:
        ctx = task_context(metadata)
        own = self._lookup(ctx["task_id"] or "") or TaskRef(ctx["node"] or "", ctx["step"], "")
        key = task_key(ctx["checkpoint_ns"], own, self._lookup)
        (node, step, path), inner = key[0], key[1:]
        if self.step_shift and isinstance(step, int):
            return ((node, step - self.step_shift, path), *inner)  # the recorded run's step
        return key

    def _attempt(self, metadata: dict[str, Any] | None) -> int:
        """The attempt of the task making a call: calls are counted per attempt."""
        md = metadata or {}
        return self.recorder.callback.attempt_of(
            str(md.get(RUN_ID_KEY)), task_context(md)["task_id"]
        )

    def _next(self, counter: Any) -> int:
        with self._lock:
            n = self._counters[counter]
            self._counters[counter] += 1
            return n

    # -- model calls ---------------------------------------------------------------------

    def route(
        self,
        model: BaseChatModel,
        messages: list[BaseMessage],
        stop: Any,
        run_manager: Any,
        kwargs: dict[str, Any],
    ) -> ChatResult | tuple[BaseChatModel, str | None]:
        """A served result, or the model to call live and the tag its answer gets."""
        metadata = getattr(run_manager, "metadata", None) or {}
        params = model._get_invocation_params(stop=stop, **kwargs)
        name = model_name(None, params, metadata, type(model).__name__)
        key, attempt = self._key(metadata), self._attempt(metadata)
        index = self._next((key, attempt, "llm"))
        substitute = self.swaps.get(name) or self.swaps.get("*")
        if substitute is not None and substitute is not model:
            self.live_calls += 1  # the substitute answers live
            return substitute, f"swap:{self.swap_refs.get(name) or self.swap_refs.get('*')}"
        if self.mode is not CassetteMode.OFF and self.cassette is not None:
            recorded = self.cassette.llm.get((key, self.cassette.attempt(key, attempt), index))
            label = f"model {name!r} call #{index + 1} in {describe(key)}"
            if recorded is not None and recorded.request == request_hash(messages):
                return _served_chat(self.cassette, recorded)
            if self.mode is CassetteMode.STRICT:
                matcher = "request differs from the recorded one" if recorded else "no such call"
                raise CassetteMissError(label, self.cassette.nearest_llm(key, index), matcher)
        self.live_calls += 1
        return model, None

    # -- tool calls ------------------------------------------------------------------------

    def tool(self, tool: BaseTool, tool_input: Any, metadata: dict[str, Any] | None) -> Any:
        """A zero-argument callable serving the recorded result, or ``None`` to run live."""
        if self.tool_mode is CassetteMode.OFF or self.cassette is None:
            return self._live(tool, tool_input)
        key, attempt = self._key(metadata), self._attempt(metadata)
        args = tool_input
        if isinstance(tool_input, dict):
            args = tool._filter_injected_args(tool_input)
        h = args_hash(args)
        n = self._next((key, attempt, "tool", tool.name, h))
        recorded = self.cassette.tools.get(
            (key, self.cassette.attempt(key, attempt), tool.name, h, n)
        )
        if recorded is not None:
            return lambda: _served_tool(self.cassette, recorded, tool)  # type: ignore[arg-type]
        if self.tool_mode is CassetteMode.STRICT:
            label = f"tool {tool.name!r} call #{n + 1} with args {args!r} in {describe(key)}"
            raise CassetteMissError(
                label,
                self.cassette.nearest_tool(key, tool.name),
                "no recorded call with these arguments",
            )
        return self._live(tool, tool_input)

    def _live(self, tool: BaseTool, tool_input: Any) -> Any:
        """A tool call no cassette serves: the sandbox's answer, or ``None`` to run live."""
        sandbox = SANDBOX.get()
        served = sandbox.live(tool, tool_input) if sandbox is not None else None
        if served is None:
            self.live_calls += 1
        return served


def _tagged(result: ChatResult, tag: str) -> ChatResult:
    for g in result.generations:
        g.generation_info = {**(g.generation_info or {}), "lgaudit_served_by": tag}
    return result


def _served_chat(cassette: Cassette, call: RecordedCall) -> ChatResult:
    if call.error is not None:
        raise _recorded_error(call)
    value = cassette.value(call)
    messages = value if isinstance(value, list) else [value]
    if messages and isinstance(messages[0], list):
        messages = messages[0]
    generations = [
        ChatGeneration(
            message=m if isinstance(m, BaseMessage) else AIMessage(content=str(m)),
            generation_info={"lgaudit_served_by": "cassette"},
        )
        for m in messages
    ]
    return ChatResult(generations=generations)


def _served_tool(cassette: Cassette, call: RecordedCall, tool: BaseTool) -> Any:
    if call.memory:
        _remake_memory(cassette, call)
    if call.error is not None:
        raise _recorded_error(call)
    value = cassette.value(call)
    content = getattr(value, "content", value)
    if tool.response_format == "content_and_artifact":
        return content, getattr(value, "artifact", None)
    return content


def _remake_memory(cassette: Cassette, call: RecordedCall) -> None:
    """A served tool's long-term memory operations, made again on the replay's store (its
    reads served from the cassette, its writes kept to the replay), so that they are
    recorded in the replay as in the original."""
    store = get_store()
    if store is None:
        return
    for payload in call.memory:
        store.batch([recorded_op(payload, cassette.stored(payload.get("value")))])


def _recorded_error(call: RecordedCall) -> BaseException:
    """The recorded call's exception, raised again as the same type with the same message
    (so retry policies, ``handle_tool_errors`` and ``except`` clauses see what they saw):
    a builtin, or a class of a module this process has already imported — stored data
    never imports code. Any other type is a ``RecordedToolError`` naming it."""
    error = call.error or {}
    name, message = str(error.get("type") or ""), str(error.get("message") or "")
    module = sys.modules.get(str(error.get("module") or "builtins"))
    cls = getattr(module, name, None) if module is not None and name.isidentifier() else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:  # noqa: BLE001 - an exception type with another signature
            pass
    return RecordedToolError(f"recorded {call.label} failed: {name}: {message}")


# -- the patches (installed once; inert unless an Interceptor is active) --------------------


def _install_patches() -> None:
    with _PATCH_LOCK:
        if _ORIGINAL:
            return
        _ORIGINAL["gen"] = BaseChatModel._generate_with_cache
        _ORIGINAL["agen"] = BaseChatModel._agenerate_with_cache
        _ORIGINAL["run"] = BaseTool.run
        _ORIGINAL["arun"] = BaseTool.arun
        BaseChatModel._generate_with_cache = _generate_with_cache  # type: ignore[method-assign]
        BaseChatModel._agenerate_with_cache = _agenerate_with_cache  # type: ignore[method-assign]
        BaseTool.run = _tool_run  # type: ignore[method-assign]
        BaseTool.arun = _tool_arun  # type: ignore[method-assign]


def _generate_with_cache(
    self: BaseChatModel,
    messages: list[BaseMessage],
    stop: Any = None,
    run_manager: Any = None,
    **kwargs: Any,
) -> ChatResult:
    ic = _ACTIVE.get()
    routed = ic.route(self, messages, stop, run_manager, kwargs) if ic else (self, None)
    if isinstance(routed, ChatResult):
        return routed
    model, tag = routed
    result = _ORIGINAL["gen"](model, messages, stop=stop, run_manager=run_manager, **kwargs)
    return _tagged(result, tag) if tag else result


async def _agenerate_with_cache(
    self: BaseChatModel,
    messages: list[BaseMessage],
    stop: Any = None,
    run_manager: Any = None,
    **kwargs: Any,
) -> ChatResult:
    ic = _ACTIVE.get()
    routed = ic.route(self, messages, stop, run_manager, kwargs) if ic else (self, None)
    if isinstance(routed, ChatResult):
        return routed
    model, tag = routed
    result = await _ORIGINAL["agen"](model, messages, stop=stop, run_manager=run_manager, **kwargs)
    return _tagged(result, tag) if tag else result


def _tool_run(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
    ic = _ACTIVE.get()
    serve = ic.tool(self, tool_input, kwargs.get("metadata")) if ic is not None else None
    if serve is None:
        return _ORIGINAL["run"](self, tool_input, *args, **kwargs)
    _install_dispatch(self)
    token = _SERVE.set(serve)
    try:
        return _ORIGINAL["run"](self, tool_input, *args, **kwargs)
    finally:
        _SERVE.reset(token)


async def _tool_arun(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
    ic = _ACTIVE.get()
    serve = ic.tool(self, tool_input, kwargs.get("metadata")) if ic is not None else None
    if serve is None:
        return await _ORIGINAL["arun"](self, tool_input, *args, **kwargs)
    _install_dispatch(self)
    token = _SERVE.set(serve)
    try:
        return await _ORIGINAL["arun"](self, tool_input, *args, **kwargs)
    finally:
        _SERVE.reset(token)


def _install_dispatch(tool: BaseTool) -> None:
    """Route this tool's ``_run``/``_arun`` through the served result when one is set."""
    if "_run" in vars(tool):
        return
    live_run, live_arun = tool._run, tool._arun  # bound methods of the tool's class

    # wraps() keeps the signatures LangChain inspects (config, run_manager parameters)
    @functools.wraps(live_run)
    def run(*args: Any, **kwargs: Any) -> Any:
        serve = _SERVE.get()
        return serve() if serve is not None else live_run(*args, **kwargs)

    @functools.wraps(live_arun)
    async def arun(*args: Any, **kwargs: Any) -> Any:
        serve = _SERVE.get()
        return serve() if serve is not None else await live_arun(*args, **kwargs)

    object.__setattr__(tool, "_run", run)
    object.__setattr__(tool, "_arun", arun)
