"""Verbs that only read the store start without LangGraph, LangChain or SQLAlchemy's ORM
(nor the web stack of ``lgaudit ui``):
each runs in a fresh interpreter on a recorded store (model and tool calls, messages, an
interrupt), and none of them is in ``sys.modules`` when it is done (the store reads through
Core tables; the typed models of ``lgaudit.store.schema`` are for whoever imports them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_probe import probe_cli
from helpers import record_demo_runs

from lgaudit import Store

HEAVY = (
    "langgraph",
    "langchain_core",
    "langchain",
    "sqlalchemy.orm",
    "starlette",
    "uvicorn",
    "jinja2",
)


def _probe(args: list[str], url: str) -> dict[str, Any]:
    return probe_cli(args, heavy=HEAVY, url=url)


def _record(url: str) -> list[str]:
    return [r["run_id"] for r in record_demo_runs(url)]


def test_read_verbs_import_neither_langgraph_langchain_nor_the_orm(
    db_url: str, tmp_path: Path
) -> None:
    runs = _record(db_url)
    newest, oldest = runs[0], runs[-1]
    verbs = [
        ["--help"],
        ["runs"],
        ["runs", "--json"],
        ["verify"],
        ["verify", "--run", newest],
        ["db", "current"],
        ["db", "upgrade"],
        ["kills"],
        ["checkpoints", newest],
        ["show", newest],
        ["show", "--json", oldest],
        ["export", newest],
        ["diff", newest, runs[1]],
        ["audit", "--all"],
        ["audit", "--json", newest],
        ["blame", newest, "messages"],
        ["report", newest, "--html", str(tmp_path / "report.html")],
        ["stages"],
        ["stages", "--json"],
        ["signoffs", "--json"],
        ["promotable", "payments"],
    ]
    for args in verbs:
        result = _probe(args, db_url)
        # diff exits 1 on differences, audit on error findings: both are answers
        assert result["code"] in (0, 1), (args, result["stderr"])
        assert result["stderr"] == "" or result["code"] == 1, (args, result["stderr"])
        assert result["heavy"] == [], (args, result["heavy"])
    # and the verbs did their work: a listing of the three runs, an intact chain
    listed = json.loads(_probe(["runs", "--json"], db_url)["stdout"])
    assert [r["run_id"] for r in listed] == runs
    assert "events verified" in _probe(["verify"], db_url)["stdout"]
    assert oldest != newest


def test_migration_history_is_alembics() -> None:
    # readers take the head from the scripts' text, Alembic is imported only to upgrade
    from alembic.script import ScriptDirectory

    from lgaudit.store import migrate

    scripts = ScriptDirectory.from_config(migrate._config())
    assert migrate.head_revision() == scripts.get_current_head()
    assert migrate.history() == {s.revision: s.down_revision for s in scripts.walk_revisions()}


def test_typed_models_read_a_recorded_store(db_url: str) -> None:
    # the models are declared on the tables the store reads: a session sees what lgaudit shows
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from lgaudit.store.schema import Event, Run

    newest = _record(db_url)[0]
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            run = session.get(Run, newest)
            events = session.scalars(
                select(Event).where(Event.run_id == newest).order_by(Event.seq)
            ).all()
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        shown = store.events(newest)
    assert run is not None and run.thread_id == store.run(newest)["thread_id"]
    assert [(e.seq, e.kind, e.hash) for e in events] == [
        (e["seq"], e["kind"], e["hash"]) for e in shown
    ]
