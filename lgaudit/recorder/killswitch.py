"""The kill switch: every recorder on a store obeys the kill orders recorded in it
(``lgaudit kill``), guarded or not, unless built with ``Recorder(..., kill_switch=False)``.

``KillWatch`` holds the orders in force, refreshed by one daemon thread per recorder that
polls the store every 250 ms — started at the recorder's first run, stopped by its
``close`` — so an order reaches every recorder on the store, in any process or host, within
a second. ``KillCheck`` sits first among a run's callback handlers. While no order is in
force its whole cost is one attribute read per node, model and tool call; while one is, a
matching new run is refused at its start (recorded whole: ``run_start``, a ``guard`` event
with rule ``guard.killed``, ``run_error``) and a matching running one stops at its next
node task, model call or tool call: ``GuardTripped`` is raised inside the graph after the
``guard`` event is recorded, and the run ends ``failed``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from lgaudit.control.kills import OrderRow, orders_since
from lgaudit.errors import GuardTripped
from lgaudit.events.payloads import model_name, task_context

if TYPE_CHECKING:
    from lgaudit.recorder.host import Host as Recorder
    from lgaudit.store import NewRun, Store

log = logging.getLogger("lgaudit")
KILL_POLL_S = 0.25


class _TripIsNotAHandlerError(logging.Filter):
    """LangChain logs every exception a callback handler raises as a handler error; a
    ``GuardTripped`` raised by lgaudit's kill check or guard is the handler working
    (recorded as a ``guard`` event, raised on purpose)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and str(args[2]).startswith("GuardTripped("))


logging.getLogger("langchain_core.callbacks.manager").addFilter(_TripIsNotAHandlerError())


class KillWatch:
    """The kill orders in force on a store, refreshed by a daemon thread every 250 ms from
    ``start`` (the recorder's first run) to ``close``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.active: dict[str, OrderRow] = {}
        #: whether the orders were read and the thread polls: checked at each run's start
        self.started = False
        self._last = 0
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Read the orders in force (they refuse the first run too) and start polling."""
        if self.started:
            return
        with self._lock:
            if self.started or self._stop.is_set():
                return
            self._poll_logged()
            self._thread = threading.Thread(
                target=self._loop, name="lgaudit-kill-watch", daemon=True
            )
            self._thread.start()
            self.started = True

    def poll(self) -> None:
        """Read the kill and lift rows recorded since the last poll (one indexed query)."""
        rows = orders_since(self.store, self._last)
        if not rows:
            return
        active = dict(self.active)
        for r in rows:
            if r["action"] == "kill":
                active[r["order_id"]] = r
            else:
                active.pop(r["order_id"], None)
            self._last = max(self._last, r["gseq"])
        self.active = active  # swapped whole: readers never see it half-updated

    def _poll_logged(self) -> None:
        """``poll``, saying once when the orders become unreadable and once when they are
        read again (a store outage must not end the watch, nor flood the log)."""
        try:
            self.poll()
        except Exception as e:  # noqa: BLE001 - retried every 250 ms
            if not self._failing:
                log.warning("lgaudit: kill orders unreadable (retrying every 250 ms): %s", e)
            self._failing = True
            return
        if self._failing:
            log.warning("lgaudit: kill orders readable again")
        self._failing = False

    def _loop(self) -> None:
        while not self._stop.wait(KILL_POLL_S):
            self._poll_logged()

    def matching(self, run: NewRun) -> OrderRow | None:
        """The first order in force that targets ``run`` (``None`` if none does)."""
        for order in self.active.values():
            if (
                (order["environment"] is not None and order["environment"] == run.environment)
                or (order["thread_id"] is not None and order["thread_id"] == run.thread_id)
                or (order["run_id"] is not None and order["run_id"] == run.run_id)
                or (
                    order["environment"] is None
                    and order["thread_id"] is None
                    and order["run_id"] is None
                )
            ):
                return order
        return None

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * KILL_POLL_S + 1)  # a poll under way ends before the store


class KillCheck(BaseCallbackHandler):
    """Refuses a recorder's new runs and stops its running ones while a kill order in force
    targets them."""

    raise_error = True  # the stop must reach the graph, not be logged by LangChain
    run_inline = True

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.watch = KillWatch(recorder.store)

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        watch = self.watch
        if watch.started and not watch.active:
            return  # no order in force: the whole cost of the kill switch
        md = metadata or {}
        run = self._run(md, run_id, kwargs.get("parent_run_id"))
        if run is None:
            return
        if str(run_id) == run.run_id:  # the run itself: refused while an order matches
            watch.start()
            if watch.active and watch.matching(run) is not None:
                self._refuse(serialized, inputs, run_id, tags, md, run, kwargs)
            return
        name = kwargs.get("name")
        if watch.active and self.recorder.callback.is_task(run_id, name, tags, md):
            self._check(run, md, f"node {name}")

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        if self.watch.active:
            self._model_start(serialized, kwargs)

    def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if self.watch.active:
            self._model_start(serialized, kwargs)

    def on_tool_start(
        self, serialized: Any, input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        if not self.watch.active:
            return
        md = kwargs.get("metadata") or {}
        run = self._run(md)
        if run is not None:
            tool = (serialized or {}).get("name") or kwargs.get("name") or "tool"
            self._check(run, md, f"tool {tool}")

    def close(self) -> None:
        self.watch.close()

    # -- helpers ----------------------------------------------------------------------

    def _model_start(self, serialized: Any, kwargs: dict[str, Any]) -> None:
        md = kwargs.get("metadata") or {}
        run = self._run(md)
        if run is not None:
            params = dict(kwargs.get("invocation_params") or {})
            self._check(run, md, f"model {model_name(serialized, params, md, kwargs.get('name'))}")

    def _run(
        self, md: Mapping[str, Any], run_id: Any = None, parent_run_id: Any = None
    ) -> NewRun | None:
        return self.recorder.runs.in_progress(md, run_id, parent_run_id)

    def _check(self, run: NewRun, md: Mapping[str, Any], what: str) -> None:
        """Stop ``what`` (the run's next call) if an order in force targets the run."""
        order = self.watch.matching(run)
        if order is None:
            return
        message = f"kill order {order['order_id']} ({order['reason']}) stopped {what}"
        payload = {
            "rule": "guard.killed",
            "limit": None,
            "value": None,
            "message": message,
            "kill_order": order["order_id"],
        }
        ctx = {k: v for k, v in task_context(dict(md)).items() if k != "thread_id"}
        self.recorder.record(run, "guard", payload, **ctx)
        raise GuardTripped("guard.killed", message)

    def _refuse(
        self,
        serialized: Any,
        inputs: Any,
        run_id: UUID,
        tags: Any,
        md: dict[str, Any],
        run: NewRun,
        kwargs: dict[str, Any],
    ) -> None:
        """A new run an order targets: recorded whole (start, ``guard``, ``run_error``),
        since LangChain calls no further handler, nor the run's end, once a start raised."""
        recording = self.recorder.callback
        recording.on_chain_start(
            serialized, inputs, run_id=run_id, tags=tags, metadata=md, **kwargs
        )
        try:
            self._check(run, md, "a new run")
        except GuardTripped as e:
            recording.on_chain_error(e, run_id=run_id)
            raise
