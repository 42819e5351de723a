"""Shared helpers of the store tests: a real recorded graph, raw SQL access, tampering.

Raw access deliberately goes around lgaudit (plain ``sqlite3`` / ``psycopg`` / a bare
SQLAlchemy engine), the way a DBA or an attacker with database access would.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import StateGraph
from langgraph.types import Command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from lgaudit import Recorder
from lgaudit.demo import AGENT_INPUT, STAGING_INPUT, agent, staging, staging_builder
from lgaudit.store import AuditSaver, RunRecord, Store
from lgaudit.store.schema import RECORDED_TABLES

# -- a real graph: the plan -> execute -> review loop of the staging seed ------------------


def loop_builder() -> StateGraph:
    return staging_builder()


LOOP_INPUT = {"input": "Quarterly financial report", "step": 0, "approved": False, "output": ""}
LOOP_RESULT = {
    "input": "Quarterly financial report",
    "step": 2,
    "approved": True,
    "output": "Processed: Quarterly financial report (step 2)",
}


def record_loop(store: Store, thread_id: str = "order-42") -> AuditSaver:
    """Record one run of the staging seed's graph through ``AuditSaver``."""
    saver = AuditSaver(store)
    graph = loop_builder().compile(checkpointer=saver)
    result = graph.invoke(dict(LOOP_INPUT), {"configurable": {"thread_id": thread_id}})
    assert result == LOOP_RESULT
    return saver


def record_everything(store: Store) -> AuditSaver:
    """Rows in every recorded table: a real run, plus a deleted thread (a tombstone)."""
    from lgaudit import kill

    saver = record_loop(store, "kept")
    record_loop(store, "deleted")
    saver.delete_thread("deleted")
    kill(reason="an operator's order", environment="staging", url=store.url)
    _shadow_once(store.url)  # its first verdict is a stage result (kind shadow)
    _signoff_once(store)
    counts = row_counts(store.url)
    assert all(counts[t] > 0 for t in RECORDED_TABLES), counts
    return saver


def _shadow_once(url: str) -> None:
    """A shadow's progress rows: a recorded run of the loop replayed on the same graph."""
    import tempfile

    from lgaudit import Recorder
    from lgaudit.stage.shadow import shadow

    with Recorder(url) as recorder:
        recorder.attach(loop_graph()).invoke(dict(LOOP_INPUT))

    with tempfile.TemporaryDirectory() as tmp:
        suite = os.path.join(tmp, "suite.toml")
        with open(suite, "w", encoding="utf-8") as f:
            f.write('[suite]\nname = "helpers"\ngraph = "helpers:loop_graph"\n[traffic]\n')
        shadow(suite, url=url, max_runs=1)


def _signoff_once(store: Store) -> None:
    """A sign-off of the newest stage result."""
    from lgaudit.review import add_signoff, list_stages

    newest = list_stages(store, limit=1)[0]
    add_signoff(store, newest["stage_id"], by="helpers", decision="reject", note="a row")


def loop_graph() -> Any:
    return loop_builder().compile()


# -- checkpoints put directly through the saver --------------------------------------------


def put_chain(saver: AuditSaver, thread_id: str, n: int, *, writes: bool = False) -> list[str]:
    """``n`` successive checkpoints on ``thread_id`` (each a child of the previous one)."""
    ids: list[str] = []
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    version = None
    for i in range(n):
        version = saver.get_next_version(version)
        checkpoint = empty_checkpoint()
        checkpoint["id"] = str(uuid6())
        checkpoint["channel_values"] = {"count": i, "who": thread_id}
        checkpoint["channel_versions"] = {"count": version, "who": version}
        config = saver.put(
            config,
            checkpoint,
            {"source": "loop", "step": i, "parents": {}},
            {"count": version, "who": version},
        )
        if writes:
            saver.put_writes(config, [("count", i + 1)], task_id=str(uuid.uuid4()))
        ids.append(checkpoint["id"])
    return ids


# -- raw database access ------------------------------------------------------------------


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_file(url: str) -> str:
    path = make_url(url).database
    assert path
    return path


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def raw_engine(url: str) -> Iterator[Engine]:
    """A bare SQLAlchemy engine on the store's database (no lgaudit code involved)."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def row_counts(url: str) -> dict[str, int]:
    with raw_engine(url) as engine, engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in RECORDED_TABLES
        }


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every recorded row of every recorded table, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with raw_engine(url) as engine, engine.connect() as conn:
        for t in RECORDED_TABLES:
            rows = conn.execute(text(f"SELECT * FROM {t}")).all()
            out[t] = sorted(
                (tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows),
                key=repr,
            )
    return out


def fetch(url: str, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with raw_engine(url) as engine, engine.connect() as conn:
        return conn.execute(text(sql), params or {}).all()


def tamper(url: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Run statements as a DBA would, bypassing the append-only triggers.

    SQLite: open the file with ``sqlite3`` and drop the triggers first. PostgreSQL:
    ``SET session_replication_role = replica`` in a psycopg session (triggers do not fire).
    Statements use ``?`` placeholders; they are converted for psycopg.
    """
    if backend_of(url) == "sqlite":
        conn = sqlite3.connect(sqlite_file(url))
        try:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master"
                    " WHERE type = 'trigger' AND name LIKE 'lgaudit_%'"
                )
            ]
            for name in names:
                conn.execute(f"DROP TRIGGER {name}")
            for sql, params in statements:
                conn.execute(sql, tuple(params))
            conn.commit()
        finally:
            conn.close()
        return
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET session_replication_role = replica")
        for sql, params in statements:
            conn.execute(sql.replace("?", "%s"), tuple(params))
        conn.commit()


def insert_raw(url: str, table: str, row: dict[str, Any]) -> None:
    """A plain INSERT (allowed by the triggers) through a bare engine."""
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    with raw_engine(url) as engine, engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({marks})"), row)


def record_demo_runs(url: str) -> list[RunRecord]:
    """The demo's staging loop once and its approval agent (interrupted, then approved) on
    ``url``, as ``environment="staging"``: three runs, newest first."""
    with Recorder(url, environment="staging") as rec:
        rec.attach(staging()).invoke(dict(STAGING_INPUT), {"configurable": {"thread_id": "s"}})
        graph = rec.attach(agent())
        cfg = {"configurable": {"thread_id": "a"}}
        graph.invoke(dict(AGENT_INPUT), cfg)
        graph.invoke(Command(resume="approve"), cfg)
        rec.flush()
        return rec.store.runs(limit=None)
