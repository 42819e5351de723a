"""The conftest ``benchmarks/langgraph_suite.py`` puts in place of LangGraph's own, in a copy
of LangGraph's ``tests/`` folder: the fixtures LangGraph's tests use, with
``sync_checkpointer``/``async_checkpointer`` bound to one configuration
(``$LGSUITE_CONFIG``):

- ``sqlitesaver``: LangGraph's ``SqliteSaver`` in memory (the reference), and for the async
  tests LangGraph's ``InMemorySaver`` (its ``AsyncSqliteSaver`` hangs on some of them here);
- ``bare-sqlite``/``bare-pg``: lgaudit's checkpointer (``Recorder(url).checkpointer``);
- ``attach-sqlite``/``attach-pg``: the same checkpointer, and every graph compiled with it
  (``StateGraph.compile``, ``@entrypoint``, ``Pregel(...)``) passed through
  ``Recorder.attach``;
- ``tee-sqlite``: graphs compiled with the reference's saver passed through
  ``Recorder.attach`` (the checkpointer teed into lgaudit's store).

Each test gets a store of its own (a copy of a migrated SQLite file, or a PostgreSQL database
made from a migrated template). Tests that do not use a checkpointer fixture are deselected:
the counts are LangGraph's tests per checkpointer. The store fixtures run in memory only and
the cache fixture on SQLite and memory (LangGraph's Redis and PostgreSQL variants need
services these runs do not start), the same in every configuration.

This file is not collected by lgaudit's own test suite (it is not named ``test_*``/``conftest``
there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import pytest

CONFIG = os.environ.get("LGSUITE_CONFIG", "sqlitesaver")
PG_ADMIN = os.environ.get("LGAUDIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
_CHECKPOINTER_FIXTURES = {"sync_checkpointer", "async_checkpointer"}
_template: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        (keep if names & _CHECKPOINTER_FIXTURES else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# -- LangGraph's plain fixtures -------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture()
def deterministic_uuids(mocker: Any) -> Any:
    side_effect = (UUID(f"00000000-0000-4000-8000-{i:012}", version=4) for i in range(10000))
    return mocker.patch("uuid.uuid4", side_effect=side_effect)


@pytest.fixture(params=["sync", "async", "exit"])
def durability(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["sqlite", "memory"])
def cache(request: pytest.FixtureRequest) -> Any:
    from langgraph.cache.memory import InMemoryCache
    from langgraph.cache.sqlite import SqliteCache

    return SqliteCache(path=":memory:") if request.param == "sqlite" else InMemoryCache()


@pytest.fixture(params=["in_memory"])
def sync_store() -> Any:
    from langgraph.store.memory import InMemoryStore

    return InMemoryStore()


@pytest.fixture(params=["in_memory"])
async def async_store() -> Any:
    from langgraph.store.memory import InMemoryStore

    return InMemoryStore()


# -- lgaudit's stores -------------------------------------------------------------------------


def _sqlite_url() -> Iterator[str]:
    from lgaudit.store import Store

    if "sqlite" not in _template:
        path = os.path.join(tempfile.mkdtemp(prefix="lgsuite-"), "template.db")
        Store(f"sqlite:///{path}").close()
        _template["sqlite"] = path
    folder = tempfile.mkdtemp(prefix="lgsuite-")
    path = os.path.join(folder, "lgaudit.db")
    shutil.copyfile(_template["sqlite"], path)
    try:
        yield f"sqlite:///{path}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)


def _postgres_url() -> Iterator[str]:
    from lgaudit.store import Store

    if "pg" not in _template:
        name = f"lgsuite_tpl_{os.urandom(5).hex()}"  # not uuid4: tests patch it
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        Store(_pg_url(name)).close()
        _template["pg"] = name
    name = f"lgsuite_{os.urandom(6).hex()}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_template["pg"]}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "pg" in _template:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{_template["pg"]}" WITH (FORCE)')
    if "sqlite" in _template:
        shutil.rmtree(os.path.dirname(_template["sqlite"]), ignore_errors=True)


def _store_url() -> Iterator[str]:
    return _postgres_url() if CONFIG.endswith("-pg") else _sqlite_url()


# -- attaching every graph compiled with the fixture's checkpointer ----------------------------


def _attach_compiled(monkeypatch: pytest.MonkeyPatch, request: Any, recorder: Any, saver: Any):
    """Every graph built with ``saver`` is returned through ``recorder.attach``."""
    from langgraph.func import entrypoint
    from langgraph.graph.state import StateGraph
    from langgraph.pregel import Pregel

    def attach(graph: Any) -> Any:
        if getattr(graph, "checkpointer", None) is saver:
            return recorder.attach(graph)
        return graph

    compile_ = StateGraph.compile
    call_ = entrypoint.__call__
    monkeypatch.setattr(
        StateGraph, "compile", lambda self, *a, **kw: attach(compile_(self, *a, **kw))
    )
    monkeypatch.setattr(entrypoint, "__call__", lambda self, func: attach(call_(self, func)))

    class AttachingPregel(Pregel):
        """``Pregel(...)`` as the test module calls it, attached when built with ``saver``."""

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return attach(Pregel(*args, **kwargs))

    if getattr(request.module, "Pregel", None) is Pregel:
        monkeypatch.setattr(request.module, "Pregel", AttachingPregel)


@pytest.fixture(params=["cp"])
def sync_checkpointer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    if CONFIG in ("sqlitesaver", "tee-sqlite"):
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(":memory:") as saver:
            if CONFIG == "sqlitesaver":
                yield saver
                return
            yield from _with_recorder(request, monkeypatch, saver)
        return
    yield from _with_recorder(request, monkeypatch, None)


@pytest.fixture(params=["cp"])
async def async_checkpointer(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    if CONFIG in ("sqlitesaver", "tee-sqlite"):
        # LangGraph's in-memory saver: its AsyncSqliteSaver hangs here on the tests whose
        # async graph calls a graph synchronously from a node (test_double_interrupt_subgraph)
        from langgraph.checkpoint.memory import InMemorySaver

        saver = InMemorySaver()
        if CONFIG == "sqlitesaver":
            yield saver
            return
        for value in _with_recorder(request, monkeypatch, saver):
            yield value
        return
    for value in _with_recorder(request, monkeypatch, None):
        yield value


def _with_recorder(request: Any, monkeypatch: pytest.MonkeyPatch, saver: Any) -> Iterator[Any]:
    from lgaudit import Recorder

    for url in _store_url():
        recorder = Recorder(url)
        try:
            checkpointer = saver if saver is not None else recorder.checkpointer
            if CONFIG.startswith(("attach-", "tee-")):
                _attach_compiled(monkeypatch, request, recorder, checkpointer)
            yield checkpointer
        finally:
            recorder.close()
