"""Schema upgrade: Alembic migrations shipped in the package, driven from code.

The only module that imports Alembic, and only to upgrade: reading a store's revision and
this lgaudit's head needs a query and the migration scripts' text, so readers start fast.
lgaudit keeps its own version table
(``lgaudit_alembic_version``) so it never collides with the host application's history.
A new empty database is upgraded on first use by a writer; a database behind head, ahead of
head, or holding lgaudit tables without lgaudit's version table is refused with one line
that names the fix, and is never modified.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from lgaudit.errors import SchemaError
from lgaudit.store.engine import translate_errors
from lgaudit.store.tables import VERSION_TABLE, metadata

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x1A6A0D17  # advisory lock id for schema upgrades on PostgreSQL
_ASSIGN = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(?:['\"](\w+)['\"]|None)", re.M)
_CURRENT = text(f"SELECT version_num FROM {VERSION_TABLE}")

if TYPE_CHECKING:
    from alembic.config import Config


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def history() -> dict[str, str | None]:
    """``revision -> down_revision`` of every migration shipped, read from the scripts'
    ``revision = "…"`` / ``down_revision = "…"`` lines (what Alembic reads, unimported)."""
    out: dict[str, str | None] = {}
    for path in sorted((_MIGRATIONS / "versions").glob("*.py")):
        found = dict((m[1], m[2] or None) for m in _ASSIGN.finditer(path.read_text("utf-8")))
        revision = found.get("revision")
        if revision:
            out[revision] = found.get("down_revision")
    return out


def head_revision() -> str:
    """The newest migration shipped with this lgaudit (the one no other revises)."""
    revisions = history()
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:
        raise SchemaError(f"lgaudit's migrations have {len(heads)} heads: a broken install")
    return heads.pop()


def known_revisions() -> set[str]:
    return set(history())


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in lgaudit's version table, or ``None`` when there is none."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(_CURRENT).scalars().all()
    if len(rows) > 1:
        raise SchemaError(f"lgaudit's version table holds {len(rows)} revisions: not a store")
    return rows[0] if rows else None


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
        from alembic import command

        command.upgrade(_config(conn), "head")
        return head
