"""Custom data a node writes with LangGraph's stream writer, recorded as ``custom`` events.

``get_stream_writer()`` (or a node's ``writer`` argument) writes to the run's stream, not
through LangChain's callbacks, and only reaches anyone when the caller streams the
``custom`` mode. A recorded run is given a parent ``Runtime`` whose ``merge`` — the call
through which LangGraph builds a run's runtime, and each subgraph's, from its parent's —
wraps whatever writer LangGraph chose (the stream's, or one that drops the data): each write
is recorded from inside the node that makes it (its task, step and namespace), then passed
on unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from langchain_core.runnables.config import var_child_runnable_config
from langgraph.runtime import Runtime

from lgaudit.checkpointer.runs import RUN_ID_KEY

Record = Callable[[Any, dict[str, Any]], None]  # (chunk, the writing node's metadata)


@dataclasses.dataclass(kw_only=True, slots=True, frozen=True)
class RecordingRuntime(Runtime[Any]):  # type: ignore[misc]  # Runtime is frozen too
    """A runtime whose merges (the run's, then each subgraph's) record every stream write.

    It is what the run's tasks get as their runtime (a ``Runtime`` to them), so a subgraph
    merging from it records too, even where LangGraph drops its writes (a caller not
    streaming subgraphs)."""

    lgaudit_record: Record | None = None
    lgaudit_run_id: str | None = None
    """The recorded run (``checkpointer.runs.config_run_id``): it reaches every task, subgraph and
    checkpoint of the run with the runtime, and nothing LangGraph streams shows it."""

    def merge(self, other: Runtime[Any]) -> Runtime[Any]:
        merged = Runtime.merge(self, other)
        inner, record, run_id = merged.stream_writer, self.lgaudit_record, self.lgaudit_run_id
        if record is None or getattr(inner, "lgaudit_records", False):
            writer = inner  # already recorded by the run's (or a parent graph's) writer
        else:

            def writer(chunk: Any) -> None:
                config = var_child_runnable_config.get() or {}
                metadata = dict(config.get("metadata") or {})
                if run_id is not None:
                    metadata.setdefault(RUN_ID_KEY, run_id)
                record(chunk, metadata)
                inner(chunk)

            writer.lgaudit_records = True  # type: ignore[attr-defined]
        fields = {f.name: getattr(merged, f.name) for f in dataclasses.fields(merged)}
        return RecordingRuntime(
            **{
                **fields,
                "stream_writer": writer,
                "lgaudit_record": record,
                "lgaudit_run_id": run_id,
            }
        )


def recording_runtime(
    parent: Any,
    record: Record,
    store: Any = None,
    wrap_store: Callable[[Any], Any] | None = None,
    run_id: str | None = None,
) -> RecordingRuntime:
    """A ``RecordingRuntime`` carrying what a parent runtime given by the caller holds
    (a ``Runtime``, or an object with a ``context``, as LangGraph accepts), and the graph's
    own long-term memory ``store`` where the caller's runtime gives none: LangGraph takes a
    run's store from a runtime in the config instead of the graph's (``compile(store=...)``).
    ``wrap_store`` is applied to the store the run gets (to record its operations);
    ``run_id`` is the recorded run the runtime carries."""
    if isinstance(parent, Runtime):
        fields = {f.name: getattr(parent, f.name) for f in dataclasses.fields(parent)}
    else:
        fields = {"context": getattr(parent, "context", None)}
    if fields.get("store") is None:
        fields["store"] = store
    if wrap_store is not None and fields["store"] is not None:
        fields["store"] = wrap_store(fields["store"])
    return RecordingRuntime(**{**fields, "lgaudit_record": record, "lgaudit_run_id": run_id})
