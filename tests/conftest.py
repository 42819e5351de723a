"""Fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is the one this machine runs at 127.0.0.1:5432 (trust auth, user postgres,
database test), or ``$LGAUDIT_TEST_PG``. Each test gets a database of its own (a fresh
SQLite file, or a fresh PostgreSQL database dropped afterwards), so a test that tampers
with its store never touches another's. With ``LGAUDIT_REQUIRE_PG=1`` (CI) an unreachable
PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from lgaudit.store import Store

PG_ADMIN = os.environ.get("LGAUDIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        if os.environ.get("LGAUDIT_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required (LGAUDIT_REQUIRE_PG=1) but unreachable: {e}")
        pytest.skip(f"PostgreSQL unreachable: {e}")


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path) -> Iterator[str]:
    """A fresh, empty database on each backend (SQLite file / PostgreSQL database)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/lgaudit.db"
        return
    name = f"lgaudit_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    try:
        yield s
    finally:
        s.close()


def _find_browser() -> tuple[str | None, str]:
    """Debian's ``chromium`` on PATH, else a Chromium Playwright installed itself; with the
    reason none was found."""
    chromium = shutil.which("chromium")
    if chromium is not None:
        return chromium, ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "no browser: chromium is not on PATH and playwright is not installed"
    try:
        with sync_playwright() as p:
            installed = p.chromium.executable_path
    except Exception as e:  # playwright without its driver: no browser either
        return None, f"no browser: chromium is not on PATH ({type(e).__name__} from playwright)"
    if installed and os.path.exists(installed):
        return installed, ""
    return None, (
        "no browser: chromium is not on PATH and Playwright has none installed "
        "(apt-get install -y chromium; .ci/run does)"
    )


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium driven by Playwright: HTML pages are checked as a person sees them.

    Without a browser the test is skipped with the reason; with ``LGAUDIT_REQUIRE_BROWSER=1``
    (CI, after ``.ci/run`` installs Debian's chromium) a missing browser fails it."""
    executable, reason = _find_browser()
    if executable is None:
        if os.environ.get("LGAUDIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser is required (LGAUDIT_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()
