"""A stage's and a shadow's arguments checked before the candidate or LangGraph is
imported: a missing or malformed suite, a candidate module that does not exist or a
missing store is said at once (one line, exit 2)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lgaudit.errors import BadInputError
from lgaudit.replay.spec import find_object
from lgaudit.stage.suite import Suite


def check_stage(
    suite: str | Path | Suite,
    *,
    graph: str | None = None,
    url: str | None = None,
    workers: int = 1,
) -> Suite:
    """The validated suite, or the ``BadInputError`` ``stage`` would give for the suite,
    ``workers``, the modules of the candidate and baseline, or (with ``[traffic]``) a
    store that does not exist."""
    suite = _load(suite, graph)
    if workers < 1:
        raise BadInputError(f"--workers must be at least 1, not {workers}")
    _find(suite, "--graph" if graph else "suite.graph", suite.graph)
    if suite.baseline:
        _find(suite, "suite.baseline", suite.baseline)
    if suite.traffic:
        _open(url)
    return suite


def check_shadow(
    suite: str | Path | Suite,
    *,
    graph: str | None = None,
    url: str | None = None,
    max_runs: int | None = None,
) -> Suite:
    """The validated suite, or the ``BadInputError`` ``shadow`` would give for the suite,
    its ``[traffic]``, ``max_runs``, the candidate's module or a missing store."""
    suite = _load(suite, graph)
    if suite.traffic is None:
        raise BadInputError(f"{suite.path}: lgaudit shadow needs a [traffic] table to follow")
    if max_runs is not None and max_runs < 1:
        raise BadInputError(f"--max-runs must be at least 1, not {max_runs}")
    _find(suite, "--graph" if graph else "suite.graph", suite.graph)
    _open(url)
    return suite


def _load(suite: str | Path | Suite, graph: str | None) -> Suite:
    if not isinstance(suite, Suite):
        return Suite.load(suite, graph=graph)
    return suite if graph is None else replace(suite, graph=graph)


def _find(suite: Suite, key: str, ref: str) -> None:
    try:
        find_object(ref, what="graph")
    except BadInputError as e:
        raise BadInputError(f"{suite.path}: {key}: {e}") from None


def _open(url: str | None) -> None:
    from lgaudit.store import Store

    Store.open(url).close()
