"""Event writers: write-through (``durability="sync"``) and the batched background writer.

The batched writer takes events from a bounded queue (back-pressure: a full queue makes the
graph wait, it never drops) and appends them in batches from one thread, so their order is
the order they were submitted in. A failing store is retried with backoff; the failure is
logged and counted (``failures``, ``pending``), and nothing is dropped: events stay queued
until the store is back, ``flush``/``close`` drain them or report exactly how many could
not be written.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from typing import cast

from lgaudit.errors import StoreError, StoreUnavailableError
from lgaudit.store import NewEvent, Store

log = logging.getLogger("lgaudit")

_STOP = object()


class BatchedWriter:
    """A background writer draining a bounded queue of events into the store."""

    def __init__(self, store: Store, *, max_queue: int = 10_000, max_batch: int = 500) -> None:
        self.store = store
        self.max_batch = max_batch
        self.failures = 0
        self.written = 0
        self.last_error: BaseException | None = None
        self.healthy = True  # False while the store is failing: runs then end without waiting
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lgaudit-writer", daemon=True)
        self._thread.start()
        self_ref = weakref.ref(self)
        atexit.register(lambda: (w := self_ref()) is not None and cast(None, w.close(timeout=30)))

    @property
    def pending(self) -> int:
        """Events submitted but not yet in the store."""
        return self._queue.unfinished_tasks

    def submit(self, events: list[NewEvent]) -> None:
        if self._closed:
            raise StoreError("recorder is closed: events can no longer be recorded")
        for e in events:
            self._queue.put(e)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every submitted event is in the store (or raise after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StoreUnavailableError(
                        f"{self._queue.unfinished_tasks} events not yet written: "
                        f"{self.last_error or 'store is slow'}"
                    )
                self._queue.all_tasks_done.wait(remaining if remaining is not None else 0.5)

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    self._queue.task_done()
                    break
                batch.append(item)
            self._write(batch)  # type: ignore[arg-type]
            for _ in batch:
                self._queue.task_done()
            if stop:
                return

    def _write(self, batch: list[NewEvent]) -> None:
        delay = 0.05
        while True:
            try:
                self.store.append(batch)
                self.written += len(batch)
                self.healthy = True
                return
            except Exception as e:  # noqa: BLE001 - never lose the batch: log, count, retry
                self.failures += 1
                self.last_error = e
                self.healthy = False
                log.error(
                    "lgaudit: store write failed (%d events held, retrying): %s", len(batch), e
                )
                if self._closed:
                    log.error("lgaudit: recorder closed with %d events unwritten", len(batch))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
