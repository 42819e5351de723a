"""Schema upgrade: Alembic migrations shipped in the package, driven from code.

The only module that imports Alembic. lgaudit keeps its own version table
(``lgaudit_alembic_version``) so it never collides with the host application's history.
A new empty database is upgraded on first use by a writer; a database behind head, ahead of
head, or holding lgaudit tables without lgaudit's version table is refused with one line
that names the fix, and is never modified.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from lgaudit.errors import SchemaError
from lgaudit.store.engine import translate_errors
from lgaudit.store.schema import VERSION_TABLE, metadata

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x1A6A0D17  # advisory lock id for schema upgrades on PostgreSQL


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration shipped with this lgaudit."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in lgaudit's version table, or ``None`` when there is none."""
    return MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def revision_of(conn: Connection) -> str | None:
    """``current_revision``, refusing databases that hold lgaudit tables but no version, or
    a version at head without the tables it stands for."""
    names = set(inspect(conn).get_table_names())
    if VERSION_TABLE not in names:
        if any(n.startswith("lgaudit_") for n in names):
            raise SchemaError(
                "database has lgaudit tables but no lgaudit version table: not an lgaudit store"
            )
        return None
    rev = current_revision(conn)
    if rev == head_revision():
        missing = sorted(t for t in metadata.tables if t not in names)
        if missing:
            raise SchemaError(
                f"lgaudit store at revision {rev} lacks its tables ({', '.join(missing)}): "
                "the database was damaged; restore it or record into a new one"
            )
    return rev


def check(conn: Connection, *, allow_empty: bool) -> str | None:
    """Raise ``SchemaError`` unless the database is at head (or empty, if allowed)."""
    rev = revision_of(conn)
    head = head_revision()
    if rev == head:
        return rev
    if rev is None:
        if allow_empty:
            return None
        raise SchemaError("no lgaudit store in this database: record a run or `lgaudit db upgrade`")
    if rev in known_revisions():
        raise SchemaError(
            f"lgaudit store is at revision {rev}, behind {head}: run `lgaudit db upgrade`"
        )
    raise SchemaError(
        f"lgaudit store is at unknown revision {rev} (ahead of {head}): upgrade lgaudit"
    )


def upgrade(engine: Engine, *, only_if_empty: bool = False) -> str:
    """Bring the database to head under a lock; with ``only_if_empty``, touch only new ones."""
    with translate_errors(), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        rev = revision_of(conn)
        head = head_revision()
        if rev == head:
            return head
        if rev is not None and rev not in known_revisions():
            check(conn, allow_empty=True)  # raises: ahead of head
        if only_if_empty and rev is not None:
            check(conn, allow_empty=True)  # raises: behind head, needs an explicit upgrade
        command.upgrade(_config(conn), "head")
        return head
