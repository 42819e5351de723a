"""Event writers: write-through (``durability="sync"``) and the batched background writer.

The batched writer takes events from a bounded buffer (back-pressure: a full buffer makes the
graph wait, it never drops) and appends them in batches from one thread, so their order is
the order they were submitted in. A failing store is retried with backoff; the failure is
logged and counted (``failures``, ``pending``), and nothing is dropped: events stay queued
until the store is back, ``flush``/``close`` drain them or report exactly how many could
not be written.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from typing import cast

from lgaudit.codec.serialization import SentBlobs
from lgaudit.errors import StoreError, StoreUnavailableError
from lgaudit.log.writer_process import AppenderGone, AppenderProcess, AppenderRefused
from lgaudit.store import NewEvent, Store

log = logging.getLogger("lgaudit")


class BatchedWriter:
    """A background writer draining a bounded buffer of events into the store.

    Submitting appends to the buffer under one lock and wakes the writer only when it is
    idle, so a busy graph hands its events over in batches rather than one thread switch
    per event; once woken with fewer than ``min_batch`` events, the writer lingers up to
    ``linger`` seconds for more (a flush, close or ``min_batch`` events cut that short), so
    a slow graph is not committed one small transaction per step. Once the writer process
    takes the batches, ``process_min_batch`` events (fewer) are enough: the commits happen
    there, and a flush at the end of a run waits for a smaller batch in flight. A full buffer
    (``max_queue`` events) makes ``submit`` wait: back-pressure, never a dropped event.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_queue: int = 10_000,
        max_batch: int = 2_000,
        linger: float = 0.05,
        min_batch: int = 64,
        process: bool = False,
        process_after: int = 1_000,
        process_min_batch: int = 32,
    ) -> None:
        self.store = store
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.linger = linger
        self.min_batch = min(min_batch, max_batch, max_queue)
        self.failures = 0
        self.written = 0
        self.last_error: BaseException | None = None
        self.healthy = True  # False while the store is failing: runs then end without waiting
        self._cond = threading.Condition()
        self._buffer: list[NewEvent] = []
        self.sent = SentBlobs()  # blobs of queued events: committed before any later event
        self._pending = 0  # submitted, not yet in the store (buffered or being written)
        # of those, events carrying state rows (checkpoints, writes, tombstones) per thread:
        # a checkpoint read waits only for its own thread's (``flush_thread``)
        self._state_pending: dict[str | None, int] = {}
        self._idle = False
        self._flushers = 0  # callers waiting in flush: the writer does not linger for them
        self._stopping = False
        self._closed = False
        # the writer process (``process``): started once ``process_after`` events were
        # written here (a recorder that stays small never pays for a process) or by
        # ``start_process``; batches go there once it is ready, and are written here until
        # then, whenever one cannot travel, and for good if the process fails to start
        self._process = process
        self.process_after = process_after
        self.process_min_batch = min(process_min_batch, max_batch, max_queue)
        self._appender: AppenderProcess | None = None
        self._thread = threading.Thread(target=self._run, name="lgaudit-writer", daemon=True)
        self._thread.start()
        self_ref = weakref.ref(self)
        atexit.register(lambda: (w := self_ref()) is not None and cast(None, w.close(timeout=30)))

    @property
    def pending(self) -> int:
        """Events submitted but not yet in the store."""
        return self._pending

    def submit(self, events: list[NewEvent]) -> None:
        if self._closed:
            raise StoreError("recorder is closed: events can no longer be recorded")
        with self._cond:
            while self._pending >= self.max_queue and self._thread.is_alive():
                self._cond.wait(0.5)  # back-pressure: the writer frees room as it commits
            before = len(self._buffer)
            self._buffer.extend(events)
            self._pending += len(events)
            state = self._state_pending
            for e in events:  # after they are queued: later events may now refer to them
                self.sent.update(e.blobs)
                if e.rows:
                    state[e.thread_id] = state.get(e.thread_id, 0) + 1
            if self._idle or before < self.min_batch <= len(self._buffer):
                self._idle = False
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every submitted event is in the store (or raise after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushers += 1
            self._cond.notify_all()  # a lingering writer writes what it holds now
            try:
                while self._pending:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise StoreUnavailableError(
                            f"{self._pending} events not yet written: "
                            f"{self.last_error or 'store is slow'}"
                        )
                    self._cond.wait(remaining if remaining is not None else 0.5)
            finally:
                self._flushers -= 1

    def flush_thread(self, thread_id: str | None, timeout: float | None = None) -> None:
        """``flush`` if events with state rows of ``thread_id`` are not yet in the store
        (``None``: of any thread): what a checkpoint read of that thread must wait for.
        Blobs its rows refer to were carried by them or by events submitted before them,
        which the writer commits first."""
        with self._cond:
            state = self._state_pending
            held = any(state.values()) if thread_id is None else state.get(thread_id)
        if held:
            self.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            appender = self._appender
            if appender is not None and self._pending:
                appender.close(kill=True)  # retrying a batch that will not be written now
            self._thread.join(timeout=5)
            if appender is not None:
                appender.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._buffer:
                    if self._stopping:
                        return
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                # a small batch lingers a little, so one commit takes what the graph
                # records meanwhile rather than one transaction per step; a flush, close or
                # ``min_batch`` events cut it short (a busy graph is written as it goes)
                deadline = time.monotonic() + self.linger
                appender = self._appender
                enough = (
                    self.process_min_batch
                    if appender is not None and appender.ready
                    else self.min_batch
                )
                while not (self._flushers or self._stopping) and len(self._buffer) < enough:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = self._buffer[: self.max_batch]
                del self._buffer[: self.max_batch]
            self._write(batch)
            with self._cond:
                self._pending -= len(batch)
                state = self._state_pending
                for e in batch:
                    if e.rows:
                        left = state[e.thread_id] - 1
                        if left:
                            state[e.thread_id] = left
                        else:
                            del state[e.thread_id]
                self._cond.notify_all()  # flushers and back-pressured submitters

    def bookkeeping(self) -> dict[str, int]:
        """Sizes of what the writer holds (for tests and diagnostics)."""
        return {
            "writer.pending": self._pending,
            "writer.state_threads": len(self._state_pending),
            "writer.sent": len(self.sent),
        }

    @property
    def process_id(self) -> int | None:
        """The writer process's pid while batches go there, else ``None``."""
        appender = self._appender
        return appender.pid if appender is not None and appender.ready else None

    def start_process(self, timeout: float = 30.0) -> bool:
        """Start the writer process now (if the writer has one and it is not running yet)
        and wait until it takes batches; ``False`` if there is none or it is not ready in
        time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._spawn()
        while time.monotonic() < deadline:
            with self._cond:  # the writer thread polls it too: one at a time
                appender = self._appender
                if appender is None:
                    return False
                try:
                    if appender.poll_ready():
                        return True
                except AppenderGone:
                    return False
            time.sleep(0.01)
        return False

    def _spawn(self) -> None:
        """Start the writer process unless it runs (callers hold ``_cond``)."""
        if not self._process or self._appender is not None or self._closed:
            return
        self._process = False  # once: a process that ends is not started again
        try:
            self._appender = AppenderProcess(self.store.url)
        except OSError as e:
            log.warning("lgaudit: no writer process (%s): writing in this process", e)

    def _write(self, batch: list[NewEvent]) -> None:
        uncertain = False  # handed to a writer process that vanished before answering
        if self._process and self.written >= self.process_after:
            with self._cond:
                self._spawn()
        if self._appender is not None:
            outcome = self._via_process(self._appender, batch)
            if outcome == "written":
                # the process appends from now on: what this process's store remembers of
                # the runs it appended to (their rows are in) is the process's to know
                self.store.forget_known_runs()
                return
            uncertain = outcome == "uncertain"
        delay = 0.05
        while True:
            try:
                if uncertain and self.store.is_recorded(batch[-1]):
                    self.written += len(batch)
                    self.healthy = True
                    return
                uncertain = False
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

    def _via_process(self, appender: AppenderProcess, batch: list[NewEvent]) -> str:
        """``written``, ``here`` (write it in this process) or ``uncertain`` (the process
        vanished with it: it may be committed)."""
        try:
            with self._cond:
                ready = appender.poll_ready()
            if not ready:
                return "here"
            appender.append(batch, lambda kind, message: self._failed(kind, message, batch))
        except AppenderRefused:
            return "here"
        except AppenderGone as e:
            self._appender = None
            appender.close(kill=True)
            if not self._closed:
                log.warning("lgaudit: %s; writing in this process from now on", e)
            return "uncertain" if appender.ready else "here"
        self.written += len(batch)
        self.healthy = True
        return "written"

    def _failed(self, kind: str, message: str, batch: list[NewEvent]) -> None:
        """A failed attempt the writer process reported (it retries, as ``_write`` does)."""
        self.failures += 1
        error = StoreUnavailableError if kind == "unavailable" else StoreError
        self.last_error = error(message)
        self.healthy = False
        log.error("lgaudit: store write failed (%d events held, retrying): %s", len(batch), message)
