"""The shadows of the store: per suite and candidate, the rolling verdict (the newest
stage result of kind ``shadow``) and every run behind it (its progress rows)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from lgaudit.review.results import get_stage, list_stages
from lgaudit.store import Store
from lgaudit.store.engine import translate_errors
from lgaudit.store.tables import shadow_progress as progress

REGRESSIONS = ("changed", "failed")


def shadow_verdicts(
    store: Store, *, suite: str | None = None, graph: str | None = None
) -> list[dict[str, Any]]:
    """Each suite and candidate a shadow has replayed runs for (suite, then candidate, in
    order): ``suite``, ``graph``, ``verdict`` (the rolling verdict as last recorded, or
    ``None`` when no change of it was recorded), ``stage_id`` and ``ts`` of that stage
    result, ``checks`` (its checks), ``replayed``, ``regressions``, ``outcomes`` (counts)
    and ``runs`` (oldest first, as ``lgaudit shadow --json`` lists them)."""
    p = progress.c
    q = select(progress).where(p.graph.is_not(None)).order_by(p.gseq)
    if suite is not None:
        q = q.where(p.suite == suite)
    if graph is not None:
        q = q.where(p.graph == graph)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with translate_errors(), store._read.connect() as conn:
        for r in conn.execute(q).mappings():
            fd = r["first_divergence"]
            groups.setdefault((r["suite"], r["graph"]), []).append(
                {
                    "source_run_id": r["source_run_id"],
                    "run_id": r["run_id"],
                    "outcome": r["outcome"],
                    "first_divergence": json.loads(fd) if fd else None,
                    "detail": r["detail"],
                }
            )
    out = []
    for (name, candidate), found in sorted(groups.items()):
        newest = list_stages(store, suite=name, graph=candidate, kind="shadow", limit=1)
        doc = get_stage(store, newest[0]["stage_id"])["document"] if newest else {}
        outcomes: dict[str, int] = {}
        for run in found:
            outcomes[run["outcome"]] = outcomes.get(run["outcome"], 0) + 1
        out.append(
            {
                "suite": name,
                "graph": candidate,
                "verdict": newest[0]["verdict"] if newest else None,
                "stage_id": newest[0]["stage_id"] if newest else None,
                "ts": newest[0]["ts"] if newest else None,
                "checks": doc.get("checks", []),
                "replayed": len(found),
                "regressions": sum(run["outcome"] in REGRESSIONS for run in found),
                "outcomes": outcomes,
                "runs": found,
            }
        )
    return out
