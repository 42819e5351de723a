"""Model, tool and custom events of ``RecordingCallback`` (a mixin: the chains, runs and
tasks they belong to are the callback's own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lgaudit.checkpointer.runs import RUN_ID_KEY
from lgaudit.events.payloads import error_view, served_by, task_context, token_usage

if TYPE_CHECKING:
    from lgaudit.store import NewRun


@dataclass
class Active:
    """A LangChain run lgaudit is following (the root, a node task, a model or tool call)."""

    kind: str  # "run" | "node" | "llm" | "tool"
    run: NewRun
    context: dict[str, Any]
    name: str | None = None
    attempt: int = 0
    original: str | None = None  # a swapped model's call: the model it replaced


class CallEvents:
    """``llm_*``, ``tool_*`` and ``custom`` events, for ``RecordingCallback``."""

    recorder: Any
    _lock: Any
    _active: dict[UUID, Active]
    _run_for: Any
    _emit: Any
    model_of: Any

    # -- model calls ----------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._llm_start(serialized, messages, run_id, parent_run_id, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._llm_start(serialized, prompts, run_id, parent_run_id, metadata, kwargs)

    def _llm_start(
        self,
        serialized: Any,
        messages: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Any,
        kwargs: dict[str, Any],
    ) -> None:
        run = self._run_for(run_id, parent_run_id, metadata)
        if run is None:
            return
        params = dict(kwargs.get("invocation_params") or {})
        model, original = self.model_of(serialized, params, metadata, kwargs.get("name"))
        ctx = task_context(metadata)
        with self._lock:
            self._active[run_id] = Active("llm", run, ctx, model, original=original)
        blobs: dict[str, tuple[str, bytes]] = {}
        payload = {
            "model": model,
            "params": self.recorder.jsonable(params),
            "messages": self.recorder.pack(messages, blobs),
        }
        if model != original:
            payload["swapped_from"] = original
        self._emit(run, "llm_start", payload, ctx, blobs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is None:
            return
        generations = [
            [getattr(g, "message", None) or getattr(g, "text", None) for g in batch]
            for batch in response.generations
        ]
        blobs: dict[str, tuple[str, bytes]] = {}
        payload = {
            "model": active.name,
            "generations": self.recorder.pack(generations, blobs, ref=True),
            "usage": token_usage(response),
            "served_by": served_by(response),
        }
        if active.original and active.original != active.name:
            payload["swapped_from"] = active.original
        self._emit(active.run, "llm_end", payload, active.context, blobs)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is not None:
            payload = {"model": active.name, "error": self.recorder.jsonable(error_view(error))}
            self._emit(active.run, "llm_error", payload, active.context)

    # -- tool calls -----------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._run_for(run_id, parent_run_id, metadata)
        if run is None:
            return
        tool = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        ctx = task_context(metadata)
        with self._lock:
            self._active[run_id] = Active("tool", run, ctx, tool)
        args = inputs if inputs is not None else input_str
        payload = {
            "tool": tool,
            "input": self.recorder.jsonable(args),
            "tool_call_id": kwargs.get("tool_call_id"),
        }
        self._emit(run, "tool_start", payload, ctx)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is not None:
            blobs: dict[str, tuple[str, bytes]] = {}
            payload = {
                "tool": active.name,
                "output": self.recorder.pack(output, blobs, ref=True),
                "tool_call_id": getattr(output, "tool_call_id", None),
            }
            self._emit(active.run, "tool_end", payload, active.context, blobs)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            active = self._active.pop(run_id, None)
        if active is not None:
            payload = {"tool": active.name, "error": self.recorder.jsonable(error_view(error))}
            self._emit(active.run, "tool_error", payload, active.context)

    # -- custom events ----------------------------------------------------------------------

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        run = self._run_for(run_id, None, metadata)
        if run is not None:
            payload = {"name": name, "data": self.recorder.jsonable(data)}
            self._emit(run, "custom", payload, task_context(metadata))

    def on_stream_write(self, chunk: Any, metadata: dict[str, Any]) -> None:
        """Data a node wrote with LangGraph's stream writer (``get_stream_writer``)."""
        if metadata.get(RUN_ID_KEY):
            run = self.recorder.runs.for_config({"metadata": metadata, "configurable": {}})
            payload = {
                "name": None,
                "source": "stream_writer",
                "data": self.recorder.jsonable(chunk),
            }
            self._emit(run, "custom", payload, task_context(metadata))
