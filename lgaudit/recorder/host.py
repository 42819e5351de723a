"""``Host``: what the recorder's parts (callback, guard, memory, kill check, recorded graph,
tee) use of the ``Recorder`` holding them, so that none of them imports the facade."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.pregel import Pregel

    from lgaudit.checkpointer.runs import RunRegistry
    from lgaudit.checkpointer.saver import AuditSaver
    from lgaudit.checkpointer.sinks import DirectSink
    from lgaudit.events.redaction import Redactor
    from lgaudit.recorder.batching import BatchedWriter
    from lgaudit.store import NewRun, Store


class Recording(Protocol):
    """What the kill check and the guard use of the recording callback."""

    def is_task(self, run_id: UUID, name: Any, tags: Any, metadata: Any) -> bool: ...

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None: ...

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None: ...


class Host(Protocol):
    """The ``Recorder`` as its parts see it (``lgaudit.recorder.recorder.Recorder``)."""

    @property
    def durability(self) -> str: ...

    environment: str | None
    kill_switch: bool
    store: Store
    redactor: Redactor
    runs: RunRegistry
    sink: BatchedWriter | DirectSink
    checkpointer: AuditSaver

    @property
    def callback(self) -> Recording: ...

    def start_run(
        self, graph: Pregel, config: RunnableConfig | None, *, parent_run_id: str | None = None
    ) -> tuple[RunnableConfig, NewRun | None]: ...

    def begin_run(self, run: NewRun) -> None: ...

    def end_run(self, run: NewRun) -> None: ...

    def jsonable(self, value: Any) -> Any: ...

    def pack(
        self,
        value: Any,
        blobs: dict[str, tuple[str, bytes]],
        *,
        ref: bool = False,
        refs: dict[str, str] | None = None,
    ) -> Any: ...

    def record(self, run: NewRun, kind: str, payload: dict[str, Any], **context: Any) -> None: ...

    def live_id(self) -> str: ...
