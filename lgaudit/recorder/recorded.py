"""``RecordedGraph``: what ``Recorder.attach`` puts in front of a compiled graph's class, so
each top-level call (``invoke``, ``stream``, their async twins, ``update_state``) is a run.
``update_state`` is recorded as a run of its own holding a ``state_update`` event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from lgaudit.checkpointer.saver import AuditSaver
from lgaudit.events.payloads import error_view, state_fields
from lgaudit.store import NewRun

if TYPE_CHECKING:
    from lgaudit.recorder.host import Host as Recorder


_CLASSES: dict[type, type] = {}


def recorded_class(base: type) -> type:
    if base not in _CLASSES:
        _CLASSES[base] = type(f"Recorded{base.__name__}", (RecordedGraph, base), {})
    return _CLASSES[base]


class RecordedGraph:
    """Mixed in front of the graph's class by ``attach``: each top-level call is a run."""

    __slots__ = ()
    _lgaudit_recorder: Recorder

    def copy(self, update: dict[str, Any] | None = None) -> Any:
        """A copy (``with_config``, ``copy``) is recorded by the same recorder."""
        attrs = {k: v for k, v in (update or {}).items() if not k.startswith("_lgaudit_")}
        copied = super().copy(attrs)  # type: ignore[misc]
        for key, value in self.__dict__.items():  # type: ignore[attr-defined]
            if key.startswith("_lgaudit_"):
                copied.__dict__[key] = value
        if "checkpointer" in attrs:  # replay swaps it: a made thread follows the new one
            copied.__dict__["_lgaudit_makes_threads"] = not isinstance(
                attrs["checkpointer"], BaseCheckpointSaver
            ) or isinstance(attrs["checkpointer"], AuditSaver)
        return copied

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        config, _run = self._lgaudit_recorder.start_run(self, config)  # type: ignore[arg-type]
        yield from super().stream(input, config, **kwargs)  # type: ignore[misc]

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        config, _run = self._lgaudit_recorder.start_run(self, config)  # type: ignore[arg-type]
        stream = super().astream(input, config, **kwargs)  # type: ignore[misc]
        try:
            async for chunk in stream:
                yield chunk
        finally:
            # closed early (``aclose()``, a ``break`` under ``aclosing``): close LangGraph's
            # stream too, which cancels the running nodes, as it does unattached
            await stream.aclose()

    def bulk_update_state(self, config: RunnableConfig, supersteps: Sequence[Sequence[Any]]) -> Any:
        recorder = self._lgaudit_recorder
        config, run = recorder.start_run(self, config)  # type: ignore[arg-type]
        if run is None:
            return super().bulk_update_state(config, supersteps)  # type: ignore[misc]
        config = _update_config(config)
        _record_update(recorder, run, supersteps)
        try:
            result = super().bulk_update_state(config, supersteps)  # type: ignore[misc]
        except BaseException as e:
            _end_update(recorder, run, e)
            raise
        _end_update(recorder, run, None, result)
        return result

    async def abulk_update_state(
        self, config: RunnableConfig, supersteps: Sequence[Sequence[Any]]
    ) -> Any:
        recorder = self._lgaudit_recorder
        config, run = recorder.start_run(self, config)  # type: ignore[arg-type]
        if run is None:
            return await super().abulk_update_state(config, supersteps)  # type: ignore[misc]
        config = _update_config(config)
        _record_update(recorder, run, supersteps)
        try:
            result = await super().abulk_update_state(config, supersteps)  # type: ignore[misc]
        except BaseException as e:
            _end_update(recorder, run, e)
            raise
        _end_update(recorder, run, None, result)
        return result


def _update_config(config: RunnableConfig) -> RunnableConfig:
    """An update's config without the run id as LangChain's: the chains an update runs (the
    node's writers, a routing function) are not the run's root, whose start and end the
    update records itself."""
    return cast(RunnableConfig, {k: v for k, v in config.items() if k != "run_id"})


def _record_update(recorder: Recorder, run: NewRun, supersteps: Sequence[Sequence[Any]]) -> None:
    recorder.record(
        run,
        "run_start",
        {"graph": run.graph, "operation": "update_state", "recorder": recorder.live_id()},
        checkpoint_ns="",
    )
    for step in supersteps:
        for update in step:
            values, as_node = update[0], update[1]
            task_id = update[2] if len(update) > 2 else None
            payload: dict[str, Any] = {"as_node": as_node, "task_id": task_id}
            if isinstance(values, Command):
                # ``update_state(cfg, Command(goto=..., update=...), as_node=...)``: the state
                # values are the command's update; where it routes is kept beside them
                payload["command"] = recorder.jsonable(
                    {"goto": values.goto, "graph": values.graph, "resume": values.resume}
                )
                values = values.update
            payload["values"] = recorder.jsonable(_update_values(values))
            recorder.record(run, "state_update", payload, checkpoint_ns="", node=as_node)


def _update_values(values: Any) -> Any:
    """An update's values as a dict of state keys where LangGraph would read them so: a list
    of ``(key, value)`` pairs, a dataclass or pydantic state."""
    if (
        isinstance(values, (list, tuple))
        and values
        and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in values)
    ):
        return dict(values)
    fields = state_fields(values)
    return values if fields is None else fields


def _end_update(
    recorder: Recorder, run: NewRun, error: BaseException | None, result: Any = None
) -> None:
    if error is None:
        checkpoint_id = ((result or {}).get("configurable") or {}).get("checkpoint_id")
        recorder.record(
            run,
            "run_end",
            {"status": "succeeded", "checkpoint_id": checkpoint_id},
            checkpoint_ns="",
            checkpoint_id=checkpoint_id,
        )
    else:
        recorder.record(
            run,
            "run_error",
            {"status": "failed", "error": recorder.jsonable(error_view(error))},
            checkpoint_ns="",
        )
    recorder.end_run(run)
