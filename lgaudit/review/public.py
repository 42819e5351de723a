"""The review verbs as public functions over a store URL (``lgaudit.signoff``, ...)."""

from __future__ import annotations

from typing import Any

from lgaudit.review.promotion import Promotability
from lgaudit.review.promotion import promotable as _promotable
from lgaudit.review.results import get_stage, list_stages
from lgaudit.review.signoffs import add_signoff, list_signoffs
from lgaudit.store import Store


def stages(
    *,
    suite: str | None = None,
    graph: str | None = None,
    limit: int | None = 50,
    url: str | None = None,
) -> list[dict[str, Any]]:
    """Stage results, newest first (``lgaudit stages``)."""
    with Store.open(url) as store:
        return list_stages(store, suite=suite, graph=graph, limit=limit)


def stage_result(ref: str, *, url: str | None = None) -> dict[str, Any]:
    """One stage result with its document and sign-offs, by id or unique prefix."""
    with Store.open(url) as store:
        return get_stage(store, ref)


def signoff(
    stage: str,
    *,
    by: str,
    decision: str,
    note: str | None = None,
    override: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Record a sign-off of a stage result (``lgaudit signoff``)."""
    with Store.open(url) as store:
        return add_signoff(store, stage, by=by, decision=decision, note=note, override=override)


def signoffs(stage: str | None = None, *, url: str | None = None) -> list[dict[str, Any]]:
    """Sign-offs, newest first, of one stage result or all (``lgaudit signoffs``)."""
    with Store.open(url) as store:
        return list_signoffs(store, stage)


def promotable(suite: str, *, graph: str | None = None, url: str | None = None) -> Promotability:
    """Whether the newest stage result of a suite may be promoted (``lgaudit promotable``)."""
    with Store.open(url) as store:
        return _promotable(store, suite, graph=graph)
