"""SQLAlchemy engines for reads and schema upgrades, and their error translation.

SQLite runs in WAL mode (set by the write engine, so readers never change a file) with a
busy timeout; the write engine starts transactions with ``BEGIN IMMEDIATE``, readers with a
deferred ``BEGIN`` that never waits on a writer. The append path does not use these engines:
``writer.ChainWriter`` keeps its own driver connection and classifies its driver errors
(stale head, lock, lost connection, refused by a trigger) for its retry loop; everything
else goes through ``translate_errors`` here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from lgaudit.errors import AppendOnlyViolation, BadInputError, StoreError, StoreUnavailableError

DEFAULT_URL = "sqlite:///lgaudit.db"
_BUSY_TIMEOUT_S = 30.0


def resolve_url(url: str | None) -> str:
    """``url``, else ``$LGAUDIT_DB``, else ``sqlite:///lgaudit.db``.

    ``postgresql://`` URLs use psycopg 3."""
    url = url or os.environ.get("LGAUDIT_DB") or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        make_url(url)
    except exc.ArgumentError as e:
        raise BadInputError(f"not a database URL: {url!r}") from e
    return url


def sqlite_path(url: str) -> str | None:
    """The file path of a file-backed SQLite URL, else ``None``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    db = parsed.database
    return None if not db or db == ":memory:" else db


def create_engines(url: str) -> tuple[Engine, Engine]:
    """Return ``(write_engine, read_engine)``; for PostgreSQL both are the same engine."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, "BEGIN IMMEDIATE"), _sqlite_engine(url, "BEGIN")
    if backend == "postgresql":
        try:
            engine = create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
        except ModuleNotFoundError as e:
            raise BadInputError(f"no driver for {url!r}: use postgresql+psycopg://") from e
        return engine, engine
    raise BadInputError(f"unsupported database {backend!r}: lgaudit stores on sqlite or postgresql")


def _sqlite_engine(url: str, begin: str) -> Engine:
    if sqlite_path(url) is None:
        raise BadInputError("lgaudit needs a file-backed SQLite database, not :memory:")
    engine = create_engine(
        url, connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        # only writers switch the file to WAL: a reader never changes the database file
        if begin == "BEGIN IMMEDIATE":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(begin)

    return engine


_APPEND_ONLY = re.compile(r"append-only")


def translate(e: BaseException) -> StoreError:
    """Map a driver or SQLAlchemy error onto lgaudit's error tree (one line, cause kept)."""
    text = str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(e) else repr(e)
    if _APPEND_ONLY.search(text):
        return AppendOnlyViolation(text)
    if isinstance(e, exc.OperationalError | exc.InterfaceError):
        return StoreUnavailableError(f"store unavailable: {text}")
    return StoreError(f"store error: {text}")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise driver and SQLAlchemy errors as ``StoreError`` subclasses."""
    try:
        yield
    except exc.SQLAlchemyError as e:
        raise translate(e) from e
