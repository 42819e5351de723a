"""The schema is owned by the migrations shipped in the package.

A new empty database is upgraded on first use; a database behind head, ahead of head, or
holding lgaudit tables without lgaudit's version table is refused with one line naming the
fix, and is left exactly as it was. Bad database files give exit 2, one line, no traceback.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from helpers import backend_of, raw_engine, record_loop, row_counts, sqlite_file
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, inspect, make_url, text

from lgaudit import Recorder, SchemaError, Store, StoreError
from lgaudit.cli import cli
from lgaudit.store import migrate
from lgaudit.store.schema import RECORDED_TABLES, VERSION_TABLE, metadata

HEAD = migrate.head_revision()


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _assert_one_line_error(result: Any, *words: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _tables(url: str) -> set[str]:
    with raw_engine(url) as engine, engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _version(url: str) -> list[str]:
    with raw_engine(url) as engine, engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]


def _upgrade_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate._config(conn), revision)
    finally:
        engine.dispose()


def _fingerprint(url: str) -> dict[str, Any]:
    """What a refused open must not change: tables, their columns, the version rows."""
    with raw_engine(url) as engine, engine.connect() as conn:
        insp = inspect(conn)
        tables = sorted(insp.get_table_names())
        out: dict[str, Any] = {t: [c["name"] for c in insp.get_columns(t)] for t in tables}
        if VERSION_TABLE in tables:
            out["version"] = _version(url)
        if backend_of(url) == "sqlite":
            path = make_url(url).database
            assert path
            out["file"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()  # bytes too
            out["triggers"] = sorted(
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            )
        else:
            out["triggers"] = sorted(
                r[0]
                for r in conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
            )
    return out


# -- the migration scripts ----------------------------------------------------------------


def test_migration_scripts_have_a_single_head() -> None:
    scripts = ScriptDirectory.from_config(migrate._config())
    assert scripts.get_heads() == [HEAD]
    # one linear history from the base to head
    chain = list(scripts.walk_revisions())
    assert chain[0].revision == HEAD
    assert chain[-1].down_revision is None
    assert all(not s.is_merge_point and not s.is_branch_point for s in chain)


def test_upgrade_from_empty_reaches_head(db_url: str) -> None:
    assert Store.upgrade(db_url) == HEAD
    assert Store.revision(db_url) == {"current": HEAD, "head": HEAD}
    assert set(RECORDED_TABLES) <= _tables(db_url)
    assert _version(db_url) == [HEAD]
    assert Store.upgrade(db_url) == HEAD  # idempotent
    assert _version(db_url) == [HEAD]


def test_first_use_upgrades_a_new_database(db_url: str) -> None:
    with Store(db_url) as store:
        assert store.schema_revision() == HEAD
        record_loop(store)
    with Store.open(db_url) as reader:
        assert reader.verify()["ok"]


def test_models_and_migrations_agree(db_url: str) -> None:
    Store.upgrade(db_url)
    opts = {
        "version_table": VERSION_TABLE,
        "compare_type": True,
        "include_name": lambda name, type_, parent: type_ != "table" or name.startswith("lgaudit_"),
    }
    with raw_engine(db_url) as engine, engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
        assert diff == []
        # the comparison is live: a model the migrations lack is reported
        extra = MetaData()
        for table in metadata.tables.values():
            table.to_metadata(extra)
        Table("lgaudit_extra", extra, Column("id", Integer, primary_key=True))
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), extra)
        assert [d[0] for d in diff] == ["add_table"]


def test_host_application_tables_are_left_alone(db_url: str) -> None:
    """lgaudit keeps its own version table: the host app's Alembic history is untouched."""
    with raw_engine(db_url) as engine, engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('hostapp01')"))
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY)"))
    with Store(db_url) as store:
        assert store.schema_revision() == HEAD
    with raw_engine(db_url) as engine, engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("hostapp01",)
        ]
    assert "orders" in _tables(db_url)


def test_cli_db_upgrade_and_current(db_url: str) -> None:
    result = _cli("db", "upgrade", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert HEAD in result.stdout
    current = _cli("db", "current", "--db", db_url, "--json")
    assert current.exit_code == 0
    assert json.loads(current.stdout) == {"current": HEAD, "head": HEAD}


# -- databases lgaudit must refuse --------------------------------------------------------


def test_database_behind_head_is_refused_then_upgraded(db_url: str) -> None:
    assert HEAD != "0001"
    _upgrade_to(db_url, "0001")
    before = _fingerprint(db_url)
    assert before["version"] == ["0001"]

    for opener in (Store, Store.open):
        with pytest.raises(SchemaError, match="lgaudit db upgrade") as info:
            opener(db_url)
        assert "0001" in str(info.value)
        assert "\n" not in str(info.value)
        assert _fingerprint(db_url) == before

    verify = _cli("verify", "--db", db_url)
    _assert_one_line_error(verify, "lgaudit db upgrade")
    assert _fingerprint(db_url) == before
    current = _cli("db", "current", "--db", db_url, "--json")
    assert json.loads(current.stdout) == {"current": "0001", "head": HEAD}

    upgrade = _cli("db", "upgrade", "--db", db_url)
    assert upgrade.exit_code == 0, upgrade.output
    assert _version(db_url) == [HEAD]
    with Store(db_url) as store:
        record_loop(store)
        assert store.verify()["ok"]
    # the upgraded store enforces append-only like a new one
    with raw_engine(db_url) as engine, pytest.raises(Exception, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM lgaudit_events"))


def test_database_ahead_of_head_is_refused_and_unchanged(db_url: str) -> None:
    with Store(db_url) as store:
        record_loop(store)
    with raw_engine(db_url) as engine, engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
    before, counts = _fingerprint(db_url), row_counts(db_url)

    for opener in (Store, Store.open):
        with pytest.raises(SchemaError, match="ffff"):
            opener(db_url)
    with pytest.raises(SchemaError, match="ffff"):
        Store.upgrade(db_url)
    _assert_one_line_error(_cli("db", "upgrade", "--db", db_url), "ffff")
    _assert_one_line_error(_cli("verify", "--db", db_url, "--json"), "ffff")
    assert _fingerprint(db_url) == before
    assert row_counts(db_url) == counts


def test_lgaudit_tables_without_version_table_are_refused(db_url: str) -> None:
    with raw_engine(db_url) as engine:
        metadata.create_all(engine)
    before = _fingerprint(db_url)
    assert VERSION_TABLE not in before

    for opener in (Store, Store.open):
        with pytest.raises(SchemaError, match="no lgaudit version table"):
            opener(db_url)
    with pytest.raises(SchemaError):
        Store.upgrade(db_url)
    _assert_one_line_error(_cli("db", "upgrade", "--db", db_url), "version table")
    _assert_one_line_error(_cli("verify", "--db", db_url), "version table")
    assert _fingerprint(db_url) == before


def test_a_version_at_head_without_its_tables_is_refused(db_url: str) -> None:
    """A damaged store (its version row says head, its tables are gone) is refused with
    one line, by recorders too (a batched one would otherwise retry its writes forever)."""
    with raw_engine(db_url) as engine, engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text(f"INSERT INTO {VERSION_TABLE} VALUES ('{HEAD}')"))
    before = _fingerprint(db_url)
    for opener in (Store, Store.open, Recorder):
        with pytest.raises(SchemaError, match="lacks its tables"):
            opener(db_url)
    _assert_one_line_error(_cli("db", "upgrade", "--db", db_url), "lacks its tables")
    assert _fingerprint(db_url) == before


def test_reader_on_an_empty_database_does_not_create_a_store(db_url: str) -> None:
    if backend_of(db_url) == "sqlite":
        open(sqlite_file(db_url), "wb").close()  # an existing, empty SQLite file
    _assert_one_line_error(_cli("verify", "--db", db_url), "lgaudit db upgrade")
    current = _cli("db", "current", "--db", db_url, "--json")
    assert current.exit_code == 0
    assert json.loads(current.stdout) == {"current": None, "head": HEAD}
    with pytest.raises(SchemaError, match="no lgaudit store"):
        Store.open(db_url)
    assert _tables(db_url) == set()
    if backend_of(db_url) == "sqlite":
        with open(sqlite_file(db_url), "rb") as f:
            assert f.read() == b""  # not even a header written


# -- bad database files (SQLite) ----------------------------------------------------------


NOT_A_DATABASE = b"order_id,amount\n42,19.99\n" * 200


@pytest.mark.parametrize(
    "args", [("verify",), ("verify", "--json"), ("db", "current"), ("db", "upgrade")]
)
def test_file_that_is_not_a_database(tmp_path: Any, args: tuple[str, ...]) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(NOT_A_DATABASE)
    url = f"sqlite:///{path}"
    _assert_one_line_error(_cli(*args, "--db", url), "not a database")
    with pytest.raises(StoreError):
        Store.open(url)
    with pytest.raises(StoreError):
        Store(url)
    assert path.read_bytes() == NOT_A_DATABASE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]  # no -wal, no -shm


@pytest.mark.parametrize(
    "args", [("verify",), ("verify", "--json"), ("db", "current"), ("db", "current", "--json")]
)
def test_missing_sqlite_file_for_read_verbs(tmp_path: Any, args: tuple[str, ...]) -> None:
    path = tmp_path / "missing.db"
    url = f"sqlite:///{path}"
    _assert_one_line_error(_cli(*args, "--db", url), "missing.db")
    with pytest.raises(SchemaError):
        Store.open(url)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_sqlite_file_through_environment(tmp_path: Any, monkeypatch: Any) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("LGAUDIT_DB", f"sqlite:///{path}")
    _assert_one_line_error(_cli("verify"), "env.db")
    assert not path.exists()


def test_unreachable_postgresql_database_is_one_line(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/lgaudit_no_such_database"
    _assert_one_line_error(_cli("verify", "--db", url))
