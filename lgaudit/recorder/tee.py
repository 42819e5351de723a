"""``RecordingSaver``: keep your checkpointer, tee every put and write into the audit log.

LangGraph reads and writes state through the inner saver exactly as before (its versions,
its serializer, its storage); each ``put``, ``put_writes`` and ``delete_thread`` is then
also recorded by the recorder's ``AuditSaver``, so audit, diff and replay see the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from lgaudit.checkpointer.saver import AuditSaver

if TYPE_CHECKING:
    from lgaudit.recorder.host import Host as Recorder


class RecordingSaver(BaseCheckpointSaver):
    """Tees an existing checkpointer (e.g. LangGraph's ``PostgresSaver``) into lgaudit."""

    def __init__(
        self, inner: BaseCheckpointSaver, recorder: Recorder, *, audit: AuditSaver | None = None
    ) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.recorder = recorder
        self.audit = audit or recorder.checkpointer

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> RecordingSaver:
        return RecordingSaver(
            self.inner.with_allowlist(extra_allowlist),
            self.recorder,
            audit=self.audit.with_allowlist(extra_allowlist),  # type: ignore[arg-type]
        )

    @property
    def config_specs(self) -> list:
        return self.inner.config_specs

    def get_next_version(self, current: Any, channel: None = None) -> Any:
        return self.inner.get_next_version(current, channel)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.audit.loaded(self.inner.get_tuple(config))

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[CheckpointTuple]:
        return self.inner.list(config, **kwargs)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        result = self.inner.put(config, checkpoint, metadata, new_versions)
        self.audit.put(config, checkpoint, metadata, new_versions)
        return result

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.inner.put_writes(config, writes, task_id, task_path)
        self.audit.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)
        self.audit.delete_thread(thread_id)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.audit.loaded(await self.inner.aget_tuple(config))

    async def alist(
        self, config: RunnableConfig | None, **kwargs: Any
    ) -> AsyncIterator[CheckpointTuple]:
        async for tup in self.inner.alist(config, **kwargs):
            yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        result = await self.inner.aput(config, checkpoint, metadata, new_versions)
        await self.audit.aput(config, checkpoint, metadata, new_versions)
        return result

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self.inner.aput_writes(config, writes, task_id, task_path)
        await self.audit.aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.inner.adelete_thread(thread_id)
        await self.audit.adelete_thread(thread_id)
