"""Which recorders are alive: a run still ``running`` whose recorder is gone is ``abandoned``.

A recorder holds a lock for as long as its process lives, and names it (``recorder``) in the
``run_start`` of every run it records. Nothing is written to mark a death: the operating
system or the database releases the lock when the process dies (``kill -9``, OOM), and a
reader that finds the lock free knows no one is recording that run any more.

- PostgreSQL: a session advisory lock ``(LOCK_SPACE, key)`` on a connection of its own
  (TCP keepalives on, so a lost host's session ends within about 30 s); readers on any host
  look in ``pg_locks``.
- SQLite: an exclusive ``flock`` on a file beside the database
  (``DB.lgaudit-live/<recorder>``); readers try the lock without waiting.

A recorder that obeys kill orders (``Recorder(kill_switch=True)``, the default) says so in its
lock, with its environment, so ``lgaudit kill`` can count the live recorders an order
reaches (``watching``): on PostgreSQL a second, shared advisory lock ``(WATCH_SPACE,
environment key)`` on the same session; on SQLite the lock file's content
(``{"kill_switch": true, "environment": ...}``), written before the lock is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

#: The first key of lgaudit's advisory locks ('lgau'), kept apart from the application's.
LOCK_SPACE = 0x6C676175
#: The first key of lgaudit's claims ('lgac'): a shadow's claim on a run it replays.
CLAIM_SPACE = 0x6C676163
#: The first key of the shared lock a recorder that obeys kill orders holds ('lgak').
WATCH_SPACE = 0x6C67616B
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}


def recorder_key(recorder_id: str) -> int:
    """The advisory lock's second key for a recorder id (31 bits, never negative)."""
    return zlib.crc32(recorder_id.encode()) & 0x7FFFFFFF


def environment_key(environment: str | None) -> int:
    """The key of a recorder's environment in its watch lock (``None``: no environment)."""
    return recorder_key("\0" if environment is None else f"={environment}")


class LivenessLock:
    """Held by one recorder from its first run until its process ends (or ``release``)."""

    def __init__(self, url: str, *, watching: bool = True, environment: str | None = None) -> None:
        self.url = url
        self.watching = watching
        self.environment = environment
        self.recorder_id = os.urandom(16).hex()  # not ``uuid.uuid4``: a graph may patch it
        self._held: Any = None
        self._lock = threading.Lock()

    def acquire(self) -> str:
        """Take the lock (once); the recorder id to name in ``run_start``."""
        with self._lock:
            if self._held is None:
                self._held = _take(self.url, self.recorder_id, self.watching, self.environment)
        return self.recorder_id

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, None
        if held is None or held is False:
            return
        with contextlib.suppress(Exception):
            held.close()


def _take(url: str, recorder_id: str, watching: bool, environment: str | None) -> Any:
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        engine = create_engine(url, poolclass=NullPool, connect_args=_KEEPALIVE)
        conn = engine.connect()
        conn.execute(
            text("SELECT pg_advisory_lock(:space, :key)"),
            {"space": LOCK_SPACE, "key": recorder_key(recorder_id)},
        )
        if watching:
            conn.execute(
                text("SELECT pg_advisory_lock_shared(:space, :key)"),
                {"space": WATCH_SPACE, "key": environment_key(environment)},
            )
        conn.commit()
        return _PgHold(engine, conn)
    directory = _live_dir(url)
    if directory is None:
        return False  # an in-memory database dies with its process anyway
    directory.mkdir(exist_ok=True)
    path = directory / recorder_id
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, json.dumps({"kill_switch": watching, "environment": environment}).encode())
    fcntl.flock(fd, fcntl.LOCK_EX)
    return _FileHold(fd, path)


class _PgHold:
    def __init__(self, engine: Any, conn: Any) -> None:
        self.engine, self.conn = engine, conn

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


class _FileHold:
    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()  # a recorder that ends cleanly leaves no file behind
        os.close(self.fd)


def alive(url: str, conn: Any, recorder_ids: Iterable[str]) -> set[str]:
    """The recorders among ``recorder_ids`` whose process still holds its lock."""
    ids = set(recorder_ids)
    if not ids:
        return set()
    if conn.dialect.name == "postgresql":
        held = {
            int(r[0])
            for r in conn.execute(
                text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :space AND objsubid = 2"
                ),
                {"space": LOCK_SPACE},
            )
        }
        return {i for i in ids if recorder_key(i) in held}
    directory = _live_dir(url)
    if directory is None:
        return ids
    return {i for i in ids if _file_locked(directory / i)}


def watching(url: str, conn: Any) -> dict[int, int]:
    """The live recorders that obey kill orders: each one's ``recorder_key``, with the
    ``environment_key`` of its environment."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT live.objid, watch.objid FROM pg_locks watch "
                "JOIN pg_locks live ON live.pid = watch.pid "
                "WHERE watch.locktype = 'advisory' AND watch.granted "
                "AND watch.classid = :watch AND watch.objsubid = 2 "
                "AND live.locktype = 'advisory' AND live.granted "
                "AND live.classid = :live AND live.objsubid = 2 "
                "AND watch.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"watch": WATCH_SPACE, "live": LOCK_SPACE},
        )
        return {int(live): int(env) for live, env in rows}
    directory = _live_dir(url)
    if directory is None or not directory.is_dir():
        return {}
    out: dict[int, int] = {}
    for path in directory.iterdir():
        if path.name.startswith("claim-"):
            continue
        try:
            held = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):
            continue  # gone meanwhile, or written by no recorder
        if isinstance(held, dict) and held.get("kill_switch") is True and _file_locked(path):
            out[recorder_key(path.name)] = environment_key(held.get("environment"))
    return out


def _file_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took: the file stays for later readers
    return False


def _live_dir(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(f"{database}.lgaudit-live")


class Claims:
    """Names one process at a time may hold (a shadow's claim on a recorded run): a
    PostgreSQL session advisory lock, or an ``flock`` beside a SQLite database. A process
    that dies lets go of its claims with it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pg: _PgHold | None = None
        self._files: dict[str, int] = {}
        if make_url(url).get_backend_name() == "postgresql":
            engine = create_engine(url, poolclass=NullPool, connect_args=_KEEPALIVE)
            self._pg = _PgHold(engine, engine.connect())

    def claim(self, name: str) -> bool:
        """Take ``name`` if no other process holds it (never waits)."""
        if self._pg is not None:
            got = self._pg.conn.execute(
                text("SELECT pg_try_advisory_lock(:space, :key)"),
                {"space": CLAIM_SPACE, "key": recorder_key(name)},
            ).scalar()
            self._pg.conn.commit()
            return bool(got)
        directory = _live_dir(self.url)
        if directory is None:
            return True  # an in-memory database has one process
        directory.mkdir(exist_ok=True)
        path = directory / f"claim-{zlib.crc32(name.encode()):08x}"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._files[name] = fd
        return True

    def release(self, name: str) -> None:
        if self._pg is not None:
            self._pg.conn.execute(
                text("SELECT pg_advisory_unlock(:space, :key)"),
                {"space": CLAIM_SPACE, "key": recorder_key(name)},
            )
            self._pg.conn.commit()
            return
        fd = self._files.pop(name, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for name in list(self._files):
            self.release(name)
        if self._pg is not None:
            self._pg.close()
            self._pg = None
