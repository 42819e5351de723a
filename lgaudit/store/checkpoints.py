"""Checkpointer read queries: the state view that ``AuditSaver`` serves to LangGraph.

A row is visible unless a tombstone of its thread was recorded after it (``delete_thread``
hides, never deletes). "Latest" is the most recently *appended* checkpoint of a thread and
namespace (chain order, ``gseq``), never a timestamp comparison: equal or skewed clocks
cannot misorder it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Row, Table, and_, bindparam, exists, select, union_all

from lgaudit.store.engine import translate_errors
from lgaudit.store.tables import channel_values, checkpoints, tombstones, writes

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _visible(table: Table) -> Any:
    return ~exists().where(
        and_(tombstones.c.thread_id == table.c.thread_id, tombstones.c.gseq > table.c.gseq)
    )


def _latest_checkpoint(by_id: bool) -> Any:
    q = select(checkpoints).where(
        checkpoints.c.thread_id == bindparam("thread_id"),
        checkpoints.c.checkpoint_ns == bindparam("checkpoint_ns"),
        _visible(checkpoints),
    )
    if by_id:
        q = q.where(checkpoints.c.checkpoint_id == bindparam("checkpoint_id"))
    return q.order_by(checkpoints.c.gseq.desc()).limit(1)


def _checkpoint_writes() -> Any:
    return (
        select(writes)
        .where(
            writes.c.thread_id == bindparam("thread_id"),
            writes.c.checkpoint_ns == bindparam("checkpoint_ns"),
            writes.c.checkpoint_id == bindparam("checkpoint_id"),
            _visible(writes),
        )
        .order_by(writes.c.gseq, writes.c.position)
    )


#: The reads LangGraph makes at every ``invoke`` (the thread's latest checkpoint, its
#: pending writes), compiled once per driver rather than once per ``Store``: a recorder
#: opened for one run does not pay SQLAlchemy's statement compilation on its first read.
_QUERIES: dict[str, Any] = {
    "latest": lambda: _latest_checkpoint(False),
    "by_id": lambda: _latest_checkpoint(True),
    "writes": _checkpoint_writes,
}
_COMPILED: dict[tuple[str, ...], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _channel_refs(n: int) -> Any:
    """Channel value refs of ``n`` channels at their versions (``channel_refs``), binds
    ``c0..`` and ``v0..``: one index lookup per channel, the whole key (thread, namespace,
    channel, version). A row-value IN, or the pairs as an OR, is searched by the thread
    alone (SQLite; PostgreSQL without statistics): every checkpoint of a long thread would
    read all of its channel values."""
    cv = channel_values.c
    branches = [
        select(cv.gseq, cv.channel, cv.ref).where(
            cv.thread_id == bindparam("thread_id"),
            cv.checkpoint_ns == bindparam("checkpoint_ns"),
            cv.channel == bindparam(f"c{i}"),
            cv.version == bindparam(f"v{i}"),
            cv.gseq <= bindparam("upto"),
            _visible(channel_values),
        )
        for i in range(n)
    ]
    return (union_all(*branches) if n > 1 else branches[0]).order_by("gseq")


def _run_precompiled(conn: Any, name: str, params: dict[str, Any]) -> Any:
    """Run query ``name`` with named ``params`` as driver SQL (no compilation per call).
    ``channel_refs:N`` is the channel refs query for N channels."""
    dialect = conn.dialect
    key = (dialect.name, dialect.driver, dialect.paramstyle, name)  # the SQL text's form
    compiled = _COMPILED.get(key)
    if compiled is None:
        kind, _, n = name.partition(":")
        c = (_channel_refs(int(n)) if kind == "channel_refs" else _QUERIES[name]()).compile(
            dialect=dialect
        )
        order = tuple(c.positiontup) if c.positional and c.positiontup else None
        fixed = {k: v for k, v in c.construct_params(params).items() if k not in params}  # LIMIT
        compiled = _COMPILED[key] = (c.string, order, fixed)
    sql, order, fixed = compiled
    values = {**fixed, **params}
    args = tuple(values[n] for n in order) if order is not None else values
    return conn.exec_driver_sql(sql, args)


class CheckpointQueries:
    """Mixed into ``Store``: the SQL behind the checkpointer's reads."""

    _read: Engine

    def checkpoint_row(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str | None
    ) -> Row[Any] | None:
        """The visible checkpoint (latest appended if ``checkpoint_id`` is ``None``)."""
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        if checkpoint_id is not None:
            params["checkpoint_id"] = checkpoint_id
        name = "latest" if checkpoint_id is None else "by_id"
        with translate_errors(), self._read.connect() as conn:
            return cast("Row[Any] | None", _run_precompiled(conn, name, params).first())

    def checkpoint_rows(
        self,
        *,
        thread_id: str | None,
        checkpoint_ns: str | None,
        checkpoint_id: str | None,
        before: tuple[str, str] | None,
        batch: int = 200,
    ) -> Generator[Row[Any], None, None]:
        """Visible checkpoints newest first; a re-put checkpoint id appears once (latest)."""
        q = select(checkpoints).where(_visible(checkpoints))
        if thread_id is not None:
            q = q.where(checkpoints.c.thread_id == thread_id)
        if checkpoint_ns is not None:
            q = q.where(checkpoints.c.checkpoint_ns == checkpoint_ns)
        if checkpoint_id is not None:
            q = q.where(checkpoints.c.checkpoint_id == checkpoint_id)
        with translate_errors(), self._read.connect() as conn:
            if before is not None:
                bound = conn.execute(
                    select(checkpoints.c.gseq)
                    .where(
                        checkpoints.c.thread_id == before[0],
                        checkpoints.c.checkpoint_id == before[1],
                    )
                    .order_by(checkpoints.c.gseq)
                    .limit(1)
                ).scalar()
                q = q.where(
                    checkpoints.c.gseq < bound
                    if bound is not None
                    else checkpoints.c.checkpoint_id < before[1]
                )
            seen: set[tuple[str, str, str]] = set()
            last: int | None = None
            while True:
                page = q.order_by(checkpoints.c.gseq.desc()).limit(batch)
                if last is not None:
                    page = page.where(checkpoints.c.gseq < last)
                rows = conn.execute(page).all()
                if not rows:
                    return
                for row in rows:
                    key = (row.thread_id, row.checkpoint_ns, row.checkpoint_id)
                    if key not in seen:
                        seen.add(key)
                        yield row
                last = rows[-1].gseq

    def channel_refs(
        self,
        thread_id: str,
        checkpoint_ns: str,
        versions: dict[str, Any],
        upto_gseq: int,
    ) -> dict[str, str]:
        """Blob refs of each channel at its version, as recorded at or before ``upto_gseq``."""
        if not versions:
            return {}
        params: dict[str, Any] = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "upto": upto_gseq,
        }
        for i, (ch, v) in enumerate(versions.items()):
            params[f"c{i}"], params[f"v{i}"] = ch, str(v)
        with translate_errors(), self._read.connect() as conn:
            rows = _run_precompiled(conn, f"channel_refs:{len(versions)}", params)
            return {ch: ref for _gseq, ch, ref in rows}

    def write_rows(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> list[Row[Any]]:
        """Pending writes of a checkpoint, resolved as LangGraph's savers do.

        A regular write (``idx >= 0``) keeps its first recording for ``(task_id, idx)``; a
        special write (error, interrupt, resume, scheduled: ``idx < 0``) keeps its latest.
        Ordered by ``(task_path, task_id, idx)``, the order live execution applies them in.
        """
        params = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
        with translate_errors(), self._read.connect() as conn:
            rows = _run_precompiled(conn, "writes", params).all()
        chosen: dict[tuple[str, int], Row[Any]] = {}
        for row in rows:
            key = (row.task_id, row.idx)
            if row.idx < 0 or key not in chosen:
                chosen[key] = row
        return sorted(chosen.values(), key=lambda r: (r.task_path, r.task_id, r.idx))
