"""``lgaudit promotable``: may the newest stage result of a suite (and candidate) ship?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lgaudit.errors import BadInputError
from lgaudit.review.results import list_stages
from lgaudit.review.signoffs import list_signoffs
from lgaudit.store import Store


@dataclass(frozen=True)
class Promotability:
    """The answer of ``promotable``: ``ok`` only when the newest stage result says
    ``promote`` and its latest sign-off approves it (or a ``block`` verdict was approved
    with an override). ``reason`` says why, naming what is missing when not ``ok``."""

    ok: bool
    reason: str
    stage_id: str | None = None
    """The newest stage result of the suite (and candidate), if any."""
    signoff: dict[str, Any] | None = None
    """The sign-off that decides: the latest one of that stage result, if any."""
    suite: str | None = None
    graph: str | None = None
    verdict: str | None = None
    missing: str | None = None
    """What is missing when not ``ok``: ``stage`` (no stage result), ``signoff`` (no
    sign-off), ``blocked`` (a block verdict not approved with an override) or ``rejected``
    (the latest sign-off rejects it)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "missing": self.missing,
            "suite": self.suite,
            "graph": self.graph,
            "stage_id": self.stage_id,
            "verdict": self.verdict,
            "signoff": self.signoff,
        }


def promotable(store: Store, suite: str, *, graph: str | None = None) -> Promotability:
    """Whether the newest ``lgaudit stage`` result of ``suite`` (of candidate ``graph``,
    when given) may be promoted: it says ``promote`` and its latest sign-off approves it,
    or it says ``block`` and its latest sign-off approved it with an override. Shadow
    verdicts are for watching: they do not count here."""
    if not suite or not suite.strip():
        raise BadInputError("promotable needs a suite name")
    if graph is not None and not graph.strip():
        raise BadInputError("--graph must not be empty")
    newest = list_stages(store, suite=suite, graph=graph, kind="stage", limit=1)
    of = f"suite {suite!r}" + (f" (candidate {graph})" if graph else "")
    if not newest:
        return Promotability(
            ok=False,
            reason=f"no stage result for {of}: run `lgaudit stage` first",
            suite=suite,
            graph=graph,
            missing="stage",
        )
    stage = newest[0]
    sid, verdict = stage["stage_id"], stage["verdict"]
    signed = list_signoffs(store, sid)[::-1]  # oldest first
    last = signed[-1] if signed else None
    base = {
        "stage_id": sid,
        "signoff": last,
        "suite": suite,
        "graph": stage["graph"],
        "verdict": verdict,
    }
    name = f"stage {sid[:12]} of {of}"
    approvals = [s for s in signed if s["decision"] == "approve"]
    if last is not None and last["decision"] == "approve":
        how = " with an override" if last["override"] else ""
        return Promotability(
            ok=True,
            reason=f"{name} says {verdict}, approved{how} by {last['by']} at {last['ts']}",
            **base,
        )
    if last is not None and approvals:
        return Promotability(
            ok=False,
            reason=f"{name} was approved, then rejected later by {last['by']} at {last['ts']}",
            missing="rejected",
            **base,
        )
    if verdict == "block":
        tail = f"; rejected by {last['by']}" if last is not None else ""
        return Promotability(
            ok=False,
            reason=f"{name} is blocked (verdict block, not approved with an override){tail}",
            missing="blocked",
            **base,
        )
    if last is not None:
        return Promotability(
            ok=False,
            reason=f"{name} says promote but was rejected by {last['by']} at {last['ts']}",
            missing="rejected",
            **base,
        )
    return Promotability(
        ok=False,
        reason=f"{name} says promote but has no sign-off: `lgaudit signoff {sid[:12]} --by "
        "NAME --decision approve`",
        missing="signoff",
        **base,
    )
