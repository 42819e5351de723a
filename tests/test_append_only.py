"""Append-only is enforced by the database: raw SQL cannot change or remove recorded rows.

Every statement here goes around lgaudit (a bare SQLAlchemy engine on the same database),
as a DBA or a compromised application would. After each refusal the store is unchanged:
every row is as it was and ``verify`` still passes.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import backend_of, raw_engine, record_everything, record_loop, row_counts, snapshot
from sqlalchemy import String, Text, text
from sqlalchemy.exc import DBAPIError

from lgaudit import AppendOnlyViolation, Store
from lgaudit.store.engine import translate
from lgaudit.store.schema import RECORDED_TABLES, metadata


def _mutable_column(table: str) -> str:
    """A non-key text column of ``table`` (the one a tamperer would rewrite)."""
    t = metadata.tables[table]
    for col in t.columns:
        if not col.primary_key and isinstance(col.type, String | Text):
            return col.name
    raise AssertionError(f"{table} has no text column")


def _pk_where(table: str, row: Any) -> tuple[str, dict[str, Any]]:
    pk = [c.name for c in metadata.tables[table].primary_key.columns]
    return " AND ".join(f"{c} = :{c}" for c in pk), {c: getattr(row, c) for c in pk}


@pytest.fixture
def recorded(store: Store) -> Store:
    record_everything(store)
    assert store.verify()["ok"]
    return store


def _assert_refused(url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    with raw_engine(url) as engine:
        with pytest.raises(DBAPIError, match="append-only") as info:
            with engine.begin() as conn:
                conn.execute(text(sql), params or {})
    # lgaudit's single error-translation point names it for what it is
    assert isinstance(translate(info.value), AppendOnlyViolation)


def _assert_unchanged(store: Store, before: dict[str, list[Any]], counts: dict[str, int]) -> None:
    assert row_counts(store.url) == counts
    assert snapshot(store.url) == before
    result = store.verify()
    assert result["ok"], result
    assert result["events_checked"] == counts["lgaudit_events"]


@pytest.mark.parametrize("table", RECORDED_TABLES)
def test_update_of_every_recorded_table_is_refused(recorded: Store, table: str) -> None:
    url = recorded.url
    before, counts = snapshot(url), row_counts(url)
    col = _mutable_column(table)
    _assert_refused(url, f"UPDATE {table} SET {col} = :v", {"v": "tampered"})
    with raw_engine(url) as engine, engine.connect() as conn:
        one = conn.execute(text(f"SELECT * FROM {table}")).first()
    where, params = _pk_where(table, one)
    _assert_refused(url, f"UPDATE {table} SET {col} = :v WHERE {where}", {**params, "v": "x"})
    _assert_unchanged(recorded, before, counts)


@pytest.mark.parametrize("table", RECORDED_TABLES)
def test_delete_from_every_recorded_table_is_refused(recorded: Store, table: str) -> None:
    url = recorded.url
    before, counts = snapshot(url), row_counts(url)
    _assert_refused(url, f"DELETE FROM {table}")  # SQLite's truncate optimisation included
    with raw_engine(url) as engine, engine.connect() as conn:
        one = conn.execute(text(f"SELECT * FROM {table}")).first()
    where, params = _pk_where(table, one)
    _assert_refused(url, f"DELETE FROM {table} WHERE {where}", params)
    _assert_unchanged(recorded, before, counts)


@pytest.mark.parametrize("table", RECORDED_TABLES)
def test_overwriting_insert_is_refused(recorded: Store, table: str) -> None:
    """An insert that replaces an existing row (SQLite ``INSERT OR REPLACE`` deletes the old
    row without firing DELETE triggers; PostgreSQL ``ON CONFLICT DO UPDATE``) is a change
    of a recorded row too."""
    url = recorded.url
    before, counts = snapshot(url), row_counts(url)
    with raw_engine(url) as engine, engine.connect() as conn:
        one = conn.execute(text(f"SELECT * FROM {table}")).first()
    assert one is not None
    values = dict(one._mapping)
    col = _mutable_column(table)
    values[col] = "tampered"
    cols = ", ".join(values)
    marks = ", ".join(f":{c}" for c in values)
    if backend_of(url) == "sqlite":
        sql = f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})"
    else:
        pk = ", ".join(c.name for c in metadata.tables[table].primary_key.columns)
        sql = (
            f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
            f"ON CONFLICT ({pk}) DO UPDATE SET {col} = excluded.{col}"
        )
    if backend_of(url) == "sqlite" and table == "lgaudit_runs":
        # lgaudit itself inserts runs with ON CONFLICT DO NOTHING, so on SQLite a
        # colliding insert is skipped rather than refused: the recorded row stays.
        with raw_engine(url) as engine, engine.begin() as conn:
            conn.execute(text(sql), values)
    else:
        _assert_refused(url, sql, values)
    _assert_unchanged(recorded, before, counts)


@pytest.mark.parametrize("table", RECORDED_TABLES)
def test_truncate_is_refused_on_postgresql(recorded: Store, backend: str, table: str) -> None:
    if backend != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    url = recorded.url
    before, counts = snapshot(url), row_counts(url)
    _assert_refused(url, f"TRUNCATE {table}")
    _assert_refused(url, f"TRUNCATE {table} CASCADE")
    _assert_unchanged(recorded, before, counts)


def test_truncate_of_all_tables_at_once_is_refused_on_postgresql(
    recorded: Store, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    url = recorded.url
    before, counts = snapshot(url), row_counts(url)
    _assert_refused(url, f"TRUNCATE {', '.join(RECORDED_TABLES)} RESTART IDENTITY")
    _assert_unchanged(recorded, before, counts)


def test_store_keeps_recording_after_refused_tampering(recorded: Store) -> None:
    url = recorded.url
    _assert_refused(url, "DELETE FROM lgaudit_events")
    _assert_refused(url, "UPDATE lgaudit_runs SET graph = 'forged'")
    counts = row_counts(url)
    record_loop(recorded, "after")
    after = row_counts(url)
    assert after["lgaudit_events"] > counts["lgaudit_events"]
    result = recorded.verify()
    assert (result["ok"], result["events_checked"], result["first_bad"]) == (
        True,
        after["lgaudit_events"],
        None,
    )


def test_plain_inserts_stay_allowed(recorded: Store) -> None:
    """The triggers guard history without blocking the one thing a store does: append."""
    url = recorded.url
    counts = row_counts(url)
    with raw_engine(url) as engine, engine.begin() as conn:
        conn.execute(text("INSERT INTO lgaudit_runs (run_id, started_at) VALUES ('extra-run', 1)"))
    assert row_counts(url)["lgaudit_runs"] == counts["lgaudit_runs"] + 1


def test_hostile_text_is_stored_as_data_never_run(store: Store) -> None:
    """Quotes, backslashes, SQL, escapes and non-ASCII in thread ids, node names, state
    values and payloads reach the database as data, exactly, and run nothing: the writer
    renders values as constants on PostgreSQL, so this pins its quoting."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    from lgaudit import Recorder

    hostile = "x'); DROP TABLE lgaudit_events; -- \\' \\x00ff $1 %s ? E'\\n' ünï 😀 \"q\""

    class S(TypedDict, total=False):
        text: str
        blob: bytes

    def echo(state: S) -> dict[str, Any]:
        return {"text": state["text"] + hostile, "blob": b"\x00'\\" + hostile.encode()}

    builder = StateGraph(S)
    builder.add_node(f"echo {hostile[:12]}", echo)
    builder.add_edge(START, f"echo {hostile[:12]}")
    builder.add_edge(f"echo {hostile[:12]}", END)
    with Recorder(store.url, durability="sync") as rec:  # a refused write fails the run
        graph = rec.attach(builder.compile())
        config = {"configurable": {"thread_id": hostile}}
        out = graph.invoke({"text": hostile}, config)
        assert graph.get_state(config).values == out
    assert out["text"] == hostile * 2
    runs = store.runs(thread_id=hostile)
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"
    shown = store.show(runs[0]["run_id"])
    assert {e["thread_id"] for e in shown["events"]} == {hostile}
    assert f"echo {hostile[:12]}" in {e["node"] for e in shown["events"]}
    final = [e for e in shown["events"] if e["kind"] == "checkpoint"][-1]
    assert final["payload"]["values"]["text"] == hostile * 2
    assert store.verify()["ok"]
