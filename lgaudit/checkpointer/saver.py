"""``AuditSaver``: a LangGraph checkpointer on the append-only store.

Every ``put`` and ``put_writes`` is also a ``checkpoint`` / ``writes`` event in the hash
chain; ``delete_thread`` records a tombstone (and a ``delete`` event) that hides the thread
from this view while its history stays for audit. Channel values are stored per new version
only (unchanged channels are never rewritten) and content-addressed.

Events belong to the run that LangGraph's config names (``runs.config_run_id``)
(set by ``Recorder.attach``); a checkpointer used on its own records each top-level input
of a thread as an implicit run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)

from lgaudit.checkpointer.async_twins import AsyncTwins
from lgaudit.checkpointer.reads import CheckpointReads
from lgaudit.checkpointer.runs import RUN_ID_KEY, RunRegistry, Unredacted, new_run_id
from lgaudit.checkpointer.sinks import DirectSink, EventSink, _flush_thread
from lgaudit.checkpointer.steps import CheckpointSteps
from lgaudit.codec.serialization import (
    BlobCache,
    ElementCache,
    SentBlobs,
    ValueCodec,
    safe_serializer,
    to_jsonable,
)
from lgaudit.store.records import NewEvent, NewRun
from lgaudit.store.schema import ChannelValue, CheckpointRow, Tombstone, WriteRow
from lgaudit.store.store import Store

_INTERRUPT = "__interrupt__"


_ABSENT = object()


def _plain(value: Any) -> bool:
    """A checkpoint value stored as the channel's value itself, which is what a node reads
    (not a channel's own representation, such as a ``DeltaChannel`` snapshot, or none)."""
    return value is not _ABSENT and type(value).__module__.split(".")[0] != "langgraph"


class AuditSaver(CheckpointReads, AsyncTwins, BaseCheckpointSaver[str]):
    """A LangGraph ``BaseCheckpointSaver`` (sync and async) backed by the lgaudit store."""

    def __init__(
        self,
        store: Store,
        *,
        sink: EventSink | None = None,
        runs: RunRegistry | None = None,
        task_node: Callable[[str], str | None] | None = None,
        interrupt_task: Callable[[str, str], str | None] | None = None,
        redactor: Any = None,
        serde: Any = None,
    ) -> None:
        super().__init__(serde=serde or safe_serializer(revive_written=True))
        self.store = store
        self.sink: EventSink = sink or DirectSink(store)
        self.runs = runs or RunRegistry()
        self._task_node = task_node or (lambda _task_id: None)
        self._interrupt_task = interrupt_task or (lambda _interrupt_id, _ns: None)
        self.redactor = redactor
        self._elements = ElementCache()
        self._codec: ValueCodec | None = None
        self._steps = CheckpointSteps()
        self._unredacted = Unredacted()
        # run -> (thread, ns, step) -> channel -> value hash: the values the first node of
        # the next step read, recorded before it ran (``pin``); run -> task -> channel ->
        # value hash: a node's writes as it returned them (``pin_writes``); both released
        # at the run's end
        self._pins: dict[str, dict[tuple[str, str, int], dict[str, str]]] = {}
        self._write_pins: dict[str, dict[str, dict[str, str]]] = {}
        self._pins_lock = threading.Lock()

    @property
    def elements(self) -> ElementCache:
        """The encodings of list elements this checkpointer reuses (``ElementCache``)."""
        return self._elements

    @property
    def codec(self) -> ValueCodec:
        stored: BlobCache | SentBlobs = getattr(self.sink, "sent", self.store.blob_cache)
        codec = self._codec
        if (
            codec is None
            or codec.stored is not stored
            or codec.serde is not self.serde
            or codec.redactor is not self.redactor
        ):  # built once, again only if the sink, serializer or redactor was replaced
            codec = self._codec = ValueCodec(self.serde, self.redactor, self._elements, stored)
        return codec

    # -- writes -----------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        ns = conf.get("checkpoint_ns", "")
        parent_id = conf.get("checkpoint_id")
        codec = self.codec
        blobs: dict[str, tuple[str, bytes]] = {}
        values = checkpoint["channel_values"]
        value_refs: dict[str, str] = {}
        rows: list[tuple[Any, dict[str, Any]]] = []
        run = self.runs.for_config(config, metadata)
        pinned = self._pinned(run.run_id, thread_id, ns, metadata.get("step"))
        for channel, version in new_versions.items():
            if channel in pinned and _plain(values.get(channel, _ABSENT)):
                ref = pinned[channel]  # as a node of the next step read it, unchanged since
            elif channel in values:
                masked = codec.masked
                ref = codec.encode_named(channel, values[channel], blobs)
                if codec.masked != masked:
                    self._keep(("value", thread_id, ns, channel, str(version)), values[channel])
            else:
                ref = codec.encode_empty(blobs)
            value_refs[channel] = ref
            rows.append(
                (
                    ChannelValue,
                    {
                        "channel": channel,
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "version": str(version),
                        "ref": ref,
                    },
                )
            )
        stored = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        meta = get_serializable_checkpoint_metadata(config, metadata)
        cast(dict[str, Any], meta).pop(RUN_ID_KEY, None)  # lgaudit's key, not the graph's
        # bookkeeping only (ids, channel versions): never redacted, a masked version would
        # make the thread impossible to continue
        checkpoint_ref = codec.encode_exact(stored, blobs)
        metadata_ref = codec.encode(meta, blobs)
        rows.append(
            (
                CheckpointRow,
                {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint["id"],
                    "parent_checkpoint_id": parent_id,
                    "run_id": run.run_id,
                    "checkpoint_ref": checkpoint_ref,
                    "metadata_ref": metadata_ref,
                },
            )
        )
        step = meta.get("step")
        self._remember_step(thread_id, ns, checkpoint["id"], step)
        payload = {
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": parent_id,
            "step": step,
            "source": meta.get("source"),
            "parents": meta.get("parents") or {},
            "channel_versions": {k: str(v) for k, v in checkpoint["channel_versions"].items()},
            "updated_channels": sorted(new_versions),
            "value_refs": value_refs,
            "checkpoint_ref": checkpoint_ref,
            "metadata_ref": metadata_ref,
        }
        self._submit(
            [
                NewEvent(
                    run=run,
                    kind="checkpoint",
                    payload=payload,
                    thread_id=thread_id,
                    step=step if isinstance(step, int) else None,
                    checkpoint_ns=ns,
                    checkpoint_id=checkpoint["id"],
                    blobs=blobs,
                    rows=rows,
                )
            ]
        )
        return {
            "configurable": {
                "thread_id": conf["thread_id"],
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        ns = conf.get("checkpoint_ns", "")
        checkpoint_id = conf["checkpoint_id"]
        codec = self.codec
        blobs: dict[str, tuple[str, bytes]] = {}
        rows: list[tuple[Any, dict[str, Any]]] = []
        entries: list[dict[str, Any]] = []
        run = self.runs.for_config(config)
        pinned = self._pinned_writes(run.run_id, task_id, writes)
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            ref = pinned.get(channel)  # as the node returned it, before any change since
            if ref is None:
                masked = codec.masked
                ref = codec.encode_named(channel, value, blobs)
                if codec.masked != masked:
                    self._keep(("write", thread_id, ns, checkpoint_id, task_id, str(idx)), value)
            rows.append(
                (
                    WriteRow,
                    {
                        "position": position,
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": checkpoint_id,
                        "task_id": task_id,
                        "task_path": task_path,
                        "idx": idx,
                        "channel": channel,
                        "ref": ref,
                    },
                )
            )
            entries.append({"channel": channel, "idx": idx, "ref": ref})
        prev_step = self._step_of(thread_id, ns, checkpoint_id)
        step = prev_step + 1 if prev_step is not None else None
        common = {
            "run": run,
            "thread_id": thread_id,
            "step": step,
            "task_id": task_id,
            "node": self._task_node(task_id),
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
        events = [
            NewEvent(
                kind="writes",
                payload={"task_path": task_path, "writes": entries},
                blobs=blobs,
                rows=rows,
                **common,
            )
        ]
        for channel, value in writes:
            if channel == _INTERRUPT:
                items = list(value) if isinstance(value, list | tuple) else [value]
                ids = [getattr(i, "id", None) for i in items]
                if not self.runs.mark_interrupted(run.run_id, ids):
                    continue  # the interrupt of a subgraph, recorded in its own namespace
                values = [getattr(i, "value", i) for i in items]
                payload = {
                    "value": self.jsonable(values[0] if len(values) == 1 else values),
                    "interrupt_ids": ids,
                    "task_path": task_path,
                }
                raiser = self._interrupt_task(str(ids[0]), ns) if ids and ids[0] else None
                asked = common
                if raiser is not None and raiser != task_id:  # a @task its caller awaited
                    asked = {**common, "task_id": raiser, "node": self._task_node(raiser)}
                events.append(NewEvent(kind="interrupt", payload=payload, **asked))
        self._submit(events)

    def delete_thread(self, thread_id: str) -> None:
        """Record a tombstone: the thread leaves the checkpointer's view, its history stays.
        The deletion is a run of its own (start, ``delete``, end), complete when recorded."""
        thread_id = str(thread_id)
        run = NewRun(run_id=new_run_id(), thread_id=thread_id, environment=self.runs.environment)
        self._submit(
            [
                NewEvent(run=run, kind="run_start", payload={"operation": "delete_thread"},
                         thread_id=thread_id),
                NewEvent(
                    run=run,
                    kind="delete",
                    payload={"thread_id": thread_id},
                    thread_id=thread_id,
                    rows=[(Tombstone, {"thread_id": thread_id})],
                ),
                NewEvent(run=run, kind="run_end", payload={"status": "succeeded"},
                         thread_id=thread_id),
            ]
        )  # fmt: skip

    def _submit(self, events: list[NewEvent]) -> None:
        try:
            self.sink.submit(events)
        except BaseException:
            self.forget_encodings()
            raise

    def pin(
        self, run_id: str, thread_id: str | None, ns: str, step: int, refs: dict[str, str]
    ) -> None:
        """A node of step ``step + 1`` is about to run, having read these values (their
        hashes, already handed to the writer): they are the checkpoint of ``step``'s. With
        LangGraph's ``durability="async"`` that checkpoint may be saved after the node ran;
        stored as pinned, a node that mutates its input in place does not change it."""
        key = (str(thread_id or ""), ns, step)
        with self._pins_lock:
            pins = self._pins.get(run_id)
            if pins is None:
                pins = self._pins[run_id] = {}
            if key not in pins:  # the first node of the step read them first
                pins[key] = refs

    def pin_writes(self, run_id: str, task_id: str, refs: dict[str, str]) -> None:
        """A node returned these values (their hashes, already handed to the writer): its
        writes, which LangGraph may save after a later node mutated them in place."""
        with self._pins_lock:
            pins = self._write_pins.get(run_id)
            if pins is None:
                pins = self._write_pins[run_id] = {}
            pins[task_id] = refs

    def forget_run(self, run_id: str, thread_id: str | None, thread_done: bool) -> None:
        """A run ended: drop its pins (a checkpoint saved before the node that pinned it
        read it has none to take) and, when no other run of its thread is in progress here
        (``thread_done``), the steps of the thread's checkpoints."""
        with self._pins_lock:
            self._pins.pop(run_id, None)
            self._write_pins.pop(run_id, None)
        if thread_done and thread_id is not None:
            self._steps.forget_thread(str(thread_id))

    def bookkeeping(self) -> dict[str, int]:
        """Sizes of what the checkpointer remembers (for tests and diagnostics)."""
        return {
            "saver.pins": len(self._pins),
            "saver.write_pins": len(self._write_pins),
            "saver.step_threads": len(self._steps.threads),
            "saver.steps": self._steps.count,
            **self._elements.bookkeeping(),
        }

    def _pinned_writes(
        self, run_id: str, task_id: str, writes: Sequence[tuple[str, Any]]
    ) -> dict[str, str]:
        if not self._write_pins:
            return {}
        with self._pins_lock:
            pins = self._write_pins.get(run_id)
            refs = pins.pop(task_id, None) if pins is not None else None
        if not refs:
            return {}
        channels = [channel for channel, _ in writes]
        # a channel written once, by the key of the node's output: that value
        return {c: refs[c] for c in channels if c in refs and channels.count(c) == 1}

    def _pinned(self, run_id: str, thread_id: str, ns: str, step: Any) -> dict[str, str]:
        if not self._pins or not isinstance(step, int):
            return {}
        with self._pins_lock:
            pins = self._pins.get(run_id)
            return (pins.pop((thread_id, ns, step), None) if pins is not None else None) or {}

    def _keep(self, key: tuple[str, ...], value: Any) -> None:
        """Remember a value redaction masked, as it was (``Unredacted``)."""
        try:
            self._unredacted.keep(key, self.serde.dumps_typed(value))
        except Exception:  # noqa: BLE001 - unserializable: the masked value is read back
            pass

    def _unmasked(self, key: tuple[str, ...], ref: str, blobs: dict[str, Any]) -> Any:
        kept = self._unredacted.get(key)
        return self.serde.loads_typed(kept) if kept is not None else self.codec.decode(ref, blobs)

    def forget_encodings(self) -> None:
        """Drop reused encodings: after a failed write, their blobs may not be stored."""
        self._elements.clear()

    def jsonable(self, value: Any) -> Any:
        """A redacted JSON view of a value, for event payloads."""
        view = to_jsonable(value)
        return self.redactor.redact(view) if self.redactor is not None else view

    def loaded(self, tup: CheckpointTuple | None) -> CheckpointTuple | None:
        """A checkpoint another saver loaded for a run (``RecordingSaver``): its step is
        remembered while a run of its thread is in progress here, as for one read here
        (the run's writes to it are recorded with their step)."""
        if tup is not None:
            conf = tup.config["configurable"]
            thread_id = str(conf["thread_id"])
            if self.runs.thread_active(thread_id):
                self._remember_step(
                    thread_id,
                    conf.get("checkpoint_ns", ""),
                    str(conf["checkpoint_id"]),
                    (tup.metadata or {}).get("step"),
                )
        return tup

    def _remember_step(self, thread_id: str, ns: str, checkpoint_id: str, step: Any) -> None:
        if isinstance(step, int):
            self._steps.remember(thread_id, ns, checkpoint_id, step)

    def _step_of(self, thread_id: str, ns: str, checkpoint_id: str) -> int | None:
        """The step of a checkpoint of this thread: remembered, else from the store."""
        step = self._steps.get(thread_id, ns, checkpoint_id)
        if step is not None:
            return step
        if self.runs.thread_active(thread_id):
            # a run of the thread is in progress here: the checkpoints it loaded or saved are
            # remembered, so this is a write LangGraph saved before its checkpoint's ``put``
            # came (its background executor races them). Waiting for the store would let the
            # run's other writes overtake this one in the log.
            return None
        _flush_thread(self.sink, thread_id)
        row = self.store.checkpoint_row(thread_id, ns, checkpoint_id)
        if row is None:
            return None
        found = self.codec.decode(row.metadata_ref, self.store.load_blobs([row.metadata_ref]))
        step = found.get("step") if isinstance(found, dict) else None
        if not isinstance(step, int):
            return None
        return step
