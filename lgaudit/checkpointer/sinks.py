"""Where the saver and callback send events: the EventSink protocol, the direct sink."""

from __future__ import annotations

from typing import Protocol

from lgaudit.checkpointer.steps import (  # noqa: F401  (moved: lgaudit.checkpointer.steps)
    STEPS_MAX,
    CheckpointSteps,
)
from lgaudit.store.records import NewEvent
from lgaudit.store.store import Store


class EventSink(Protocol):
    """Where the saver and callback send events: straight to the store, or a writer.

    A sink that commits events in the order they were submitted may say so with a ``sent``
    attribute (``SentBlobs``): blobs of events it has taken, which later events may refer to
    without carrying them. Without it, only blobs known to be committed are left out.

    A sink that knows which threads its queued events belong to may have
    ``flush_thread(thread_id)``: a checkpoint read of a thread then waits only for that
    thread's state (``_flush_thread``); without it, a read flushes the whole sink."""

    def submit(self, events: list[NewEvent]) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...


def _flush_thread(sink: EventSink, thread_id: str | None) -> None:
    """Before a checkpoint read: wait for what the sink holds of that thread's state (all
    of it for a sink that cannot tell)."""
    by_thread = getattr(sink, "flush_thread", None)
    if by_thread is not None:
        by_thread(thread_id)
    else:
        sink.flush()


class DirectSink:
    """Write-through: each submit is one append transaction before the graph goes on."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent = store.blob_cache  # write-through: what is committed

    def submit(self, events: list[NewEvent]) -> None:
        self.store.append(events)

    def flush(self, timeout: float | None = None) -> None:
        return None
