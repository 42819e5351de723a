"""``CheckpointReads``: the checkpointer's reads (``get_tuple``, ``list``, their async
twins), a stored checkpoint row turned back into LangGraph's ``CheckpointTuple``."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    CheckpointTuple,
    get_checkpoint_id,
)
from sqlalchemy import Row

from lgaudit.checkpointer.runs import RunRegistry
from lgaudit.checkpointer.sinks import EventSink, _flush_thread
from lgaudit.codec.serialization import EMPTY_TYPE, ValueCodec

if TYPE_CHECKING:
    from lgaudit.store.store import Store


class CheckpointReads:
    """The reads of ``AuditSaver`` (a mixin: it holds the store, sink, runs and codec)."""

    store: Store
    sink: EventSink
    runs: RunRegistry

    if TYPE_CHECKING:

        @property
        def codec(self) -> ValueCodec: ...

        def _unmasked(self, key: tuple[str, ...], ref: str, blobs: dict[str, Any]) -> Any: ...

        def _remember_step(
            self, thread_id: str, ns: str, checkpoint_id: str, step: Any
        ) -> None: ...

    # -- reads --------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        _flush_thread(self.sink, str(conf["thread_id"]))
        row = self.store.checkpoint_row(
            str(conf["thread_id"]), conf.get("checkpoint_ns", ""), get_checkpoint_id(config)
        )
        return self._tuple(row) if row is not None else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        conf = (config or {}).get("configurable", {})
        thread_id = conf.get("thread_id")
        _flush_thread(self.sink, str(thread_id) if thread_id is not None else None)
        before_key = None
        if before is not None:
            bconf = before["configurable"]
            before_key = (str(bconf.get("thread_id", thread_id)), bconf["checkpoint_id"])
        rows = self.store.checkpoint_rows(
            thread_id=str(thread_id) if thread_id is not None else None,
            checkpoint_ns=conf.get("checkpoint_ns"),
            checkpoint_id=get_checkpoint_id(config) if config else None,
            before=before_key,
        )
        remaining = limit
        try:
            for row in rows:
                if remaining is not None and remaining <= 0:
                    return
                tup = self._tuple(row)
                if filter and any(tup.metadata.get(k) != v for k, v in filter.items()):
                    continue
                yield tup
                if remaining is not None:
                    remaining -= 1
        finally:
            rows.close()  # release the read connection even when a caller stops early

    def _tuple(self, row: Row[Any]) -> CheckpointTuple:
        codec = self.codec
        head = self.store.load_blobs([row.checkpoint_ref, row.metadata_ref])
        checkpoint = codec.decode(row.checkpoint_ref, head)
        metadata = codec.decode(row.metadata_ref, head)
        refs = self.store.channel_refs(
            row.thread_id, row.checkpoint_ns, checkpoint["channel_versions"], row.gseq
        )
        writes = self.store.write_rows(row.thread_id, row.checkpoint_ns, row.checkpoint_id)
        blobs = self.store.load_blobs([*refs.values(), *(w.ref for w in writes)])
        versions = checkpoint["channel_versions"]
        thread, ns = row.thread_id, row.checkpoint_ns
        checkpoint["channel_values"] = {
            ch: self._unmasked(("value", thread, ns, ch, str(versions[ch])), ref, blobs)
            for ch, ref in refs.items()
            if blobs[ref][0] != EMPTY_TYPE
        }
        if self.runs.thread_active(row.thread_id):  # a run of it may write to it
            self._remember_step(
                row.thread_id, row.checkpoint_ns, row.checkpoint_id, metadata.get("step")
            )
        conf = {"thread_id": row.thread_id, "checkpoint_ns": row.checkpoint_ns}
        return CheckpointTuple(
            config={"configurable": {**conf, "checkpoint_id": row.checkpoint_id}},
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config=(
                {"configurable": {**conf, "checkpoint_id": row.parent_checkpoint_id}}
                if row.parent_checkpoint_id
                else None
            ),
            pending_writes=[
                (
                    w.task_id,
                    w.channel,
                    self._unmasked(
                        ("write", thread, ns, row.checkpoint_id, w.task_id, str(w.idx)),
                        w.ref,
                        blobs,
                    ),
                )
                for w in writes
            ],
        )

    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:
        """Versions as PostgresSaver makes them: a counter plus a random tie-breaker, so two
        forks from one checkpoint never record different values under the same version."""
        if current is None:
            current_v = 0
        elif isinstance(current, int | float):
            current_v = int(current)
        else:
            current_v = int(str(current).split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"
