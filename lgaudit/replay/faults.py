"""Fault injection during a replay: exceptions raised at nodes, model calls and tool calls.

``FaultInjector`` is a callback handler with ``raise_error=True``: the exception surfaces
from the node, model or tool call as if the call itself had raised, so LangGraph's retry
policies, a model's own ``with_retry`` and the graph's fallbacks handle it.

Attempts: a node's attempt is LangGraph's (its retry policy). A model or tool call's attempt
counts the task's attempt plus the earlier failed tries of the same call (same model or
tool, same request) in that attempt, so ``llm:NAME@1`` fails the first try only, whether the
retry is the node's or the model's own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from lgaudit.checkpointer.runs import RUN_ID_KEY
from lgaudit.events.payloads import task_context
from lgaudit.replay.cassette import request_hash
from lgaudit.replay.spec import FaultSpec

if TYPE_CHECKING:
    from lgaudit.recorder import Recorder

CallKey = tuple[Any, ...]


class _QuietInjectedFaults(logging.Filter):
    """LangChain logs every callback error; an injected fault is expected, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "FaultInjector" not in record.getMessage()


logging.getLogger("langchain_core.callbacks.manager").addFilter(_QuietInjectedFaults())


class FaultInjector(BaseCallbackHandler):
    """Raises configured exceptions at node starts, model calls and tool calls.

    It records the error of what it fails through the recording callback, and the start
    too when LangChain called the injector first (handler order is not guaranteed once a
    call is wrapped, as by ``with_retry``), then raises.
    """

    raise_error = True
    run_inline = True

    def __init__(self, recorder: Recorder, faults: list[FaultSpec]) -> None:
        self.recorder = recorder
        self.faults = faults
        self.injected = 0
        self._failed: Counter[CallKey] = Counter()  # failed tries of one call, per attempt
        self._calls: dict[UUID, CallKey] = {}  # model/tool runs in flight -> their call
        self._lock = threading.Lock()

    def _task_attempt(self, md: dict[str, Any]) -> tuple[str | None, int]:
        task_id = task_context(md)["task_id"]
        return task_id, self.recorder.callback.attempt_of(str(md.get(RUN_ID_KEY)), task_id)

    def _fire(self, kind: str, names: tuple[str | None, ...], attempt: int) -> FaultSpec | None:
        for fault in self.faults:
            if any(fault.matches(kind, name, attempt) for name in names):
                with self._lock:
                    self.injected += 1
                return fault
        return None

    def _call(
        self,
        kind: str,
        names: tuple[str, ...],
        request: str,
        run_id: UUID,
        md: dict[str, Any],
        record_start: Callable[[], None],
    ) -> None:
        """A model or tool call starts: raise its fault, if one matches this try."""
        task_id, task_attempt = self._task_attempt(md)
        call = (str(md.get(RUN_ID_KEY)), task_id, task_attempt, kind, names[0], request)
        with self._lock:
            attempt = task_attempt + self._failed[call]
            self._calls[run_id] = call
        fault = self._fire(kind, names, attempt)
        if fault is None:
            return
        self._ended(run_id, failed=True)
        error = fault.exception()
        if not self.recorder.callback.follows(run_id):
            record_start()  # LangChain called this handler first: the start is not recorded
        if kind == "llm":
            self.recorder.callback.on_llm_error(error, run_id=run_id)
        else:
            self.recorder.callback.on_tool_error(error, run_id=run_id)
        raise error

    def _ended(self, run_id: UUID, *, failed: bool) -> None:
        with self._lock:
            call = self._calls.pop(run_id, None)
            if call is not None and failed:
                self._failed[call] += 1

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
        md = metadata or {}
        if not self.recorder.callback.is_task(run_id, kwargs.get("name"), tags, md):
            return
        fault = self._fire("node", (md.get("langgraph_node"),), self._task_attempt(md)[1])
        if fault is not None:
            error = fault.exception()
            if not self.recorder.callback.follows(run_id):
                self.recorder.callback.on_chain_start(
                    serialized, inputs, run_id=run_id, tags=tags, metadata=metadata, **kwargs
                )
            self.recorder.callback.on_chain_error(error, run_id=run_id)
            raise error

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        model, original = self.recorder.callback.model_of(
            serialized, params, metadata, kwargs.get("name")
        )

        def record_start() -> None:
            self.recorder.callback.on_chat_model_start(
                serialized, messages, run_id=run_id, metadata=metadata, **kwargs
            )

        names = (model, original)  # a swapped model answers to its name and the original's
        self._call("llm", names, request_hash(messages), run_id, metadata or {}, record_start)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, failed=False)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, failed=True)

    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = str((serialized or {}).get("name") or kwargs.get("name"))
        request = hashlib.sha256(str(input_str).encode()).hexdigest()[:16]

        def record_start() -> None:
            self.recorder.callback.on_tool_start(
                serialized, input_str, run_id=run_id, metadata=metadata, **kwargs
            )

        self._call("tool", (name,), request, run_id, metadata or {}, record_start)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, failed=False)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, failed=True)
