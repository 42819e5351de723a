"""The store's runs: listing them with filters done in SQL, counting them, and resolving a
run reference (a full id or a unique prefix of at least 6 characters).

A run's status, kind, tokens and import path are derived from its row and its events, never
written back: the filters below select in SQL the runs that have them (index lookups by run
and kind), so a store of many runs is read a page at a time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, get_args

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    cast,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
)

from lgaudit.errors import AmbiguousRunError, BadInputError, UnknownRunError
from lgaudit.log.chain import canonical_json
from lgaudit.store.engine import translate_errors
from lgaudit.store.liveness import alive
from lgaudit.store.records import INTERNAL_GRAPHS, RunKind, RunRecord, RunStatus, iso
from lgaudit.store.tables import events as event_table
from lgaudit.store.tables import runs as run_table

#: A run prefix shorter than this is refused (like git's short ids, but never ambiguous
#: by accident).
MIN_PREFIX = 6
STATUSES: tuple[str, ...] = get_args(RunStatus)
KINDS: tuple[str, ...] = get_args(RunKind)

_ev = event_table.c
_END_KINDS = ("run_end", "run_error")
# the event count rides on the runs query (an index range per run, one round trip)
_EVENT_COUNT = (
    select(func.count())
    .where(_ev.run_id == run_table.c.run_id)
    .correlate(run_table)
    .scalar_subquery()
    .label("event_count")
)
# what a run's record is derived from: its start (recorder, import path), ends and tokens
_FACTS = (
    select(_ev.run_id, _ev.kind, _ev.payload, _ev.ts)
    .where(_ev.kind.in_(["run_start", *_END_KINDS, "llm_end"]))
    .order_by(_ev.gseq)
)
# one run by its full id: built once (statement building and cache keys cost more than the
# lookup itself)
_RUN_BY_ID = select(run_table, _EVENT_COUNT).where(run_table.c.run_id == bindparam("run_id"))
_RUN_FACTS = _FACTS.where(_ev.run_id == bindparam("run_id"))
_NEWEST_FIRST = (run_table.c.started_at.desc(), run_table.c.run_id.desc())


def last_end(end: Any) -> Any:
    """Holds for an end event ``end`` (an alias of the events table) that no later end event
    of its run follows: the one that says how the run ended."""
    later = event_table.alias("later_end")
    return ~(
        select(later.c.gseq)
        .where(later.c.run_id == end.c.run_id, later.c.kind.in_(_END_KINDS))
        .where(later.c.gseq > end.c.gseq)
        .exists()
    )


# a run_end's payload is canonical JSON (sorted keys): its own status is its last key
_INTERRUPTED_END = '%"status":"interrupted"}'


def _has_status(status: str) -> ColumnElement[bool]:
    """The runs whose status is ``status``, in SQL: exactly so for an ended run (its last
    end event decides, as ``_records`` derives it); for ``running`` and ``abandoned``, every
    run with no end (the recorder's liveness tells them apart, outside SQL). Each is an
    indexed lookup by run and kind, which most runs fail at once."""
    r = run_table.c.run_id
    if status in ("running", "abandoned"):
        return ~select(_ev.gseq).where(_ev.run_id == r, _ev.kind.in_(_END_KINDS)).exists()
    end = event_table.alias("end_event")
    q = select(end.c.gseq).where(end.c.run_id == r, last_end(end))
    if status == "failed":
        return q.where(end.c.kind == "run_error").exists()
    interrupted = end.c.payload.like(_INTERRUPTED_END)
    if status == "interrupted":
        return q.where(end.c.kind == "run_end", interrupted).exists()
    if status == "succeeded":
        return q.where(end.c.kind == "run_end", not_(interrupted)).exists()
    return false()


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _stage_suite(dialect: str) -> ColumnElement[Any]:
    """The suite a run's replay spec names (``{"stage": {"suite": ...}}``), else NULL."""
    spec = run_table.c.replay
    if dialect == "postgresql":
        return func.json_extract_path_text(cast(spec, JSON), "stage", "suite")
    return func.json_extract(spec, "$.stage.suite")


def _is_stage(dialect: str) -> ColumnElement[bool]:
    # the LIKE first: only specs that may name a stage are parsed
    return and_(run_table.c.replay.like('%"stage":{%'), _stage_suite(dialect).is_not(None))


def _has_kind(kind: str, dialect: str) -> ColumnElement[bool]:
    r = run_table.c
    replayed = or_(r.parent_run_id.is_not(None), r.replay.is_not(None))
    if kind == "recorded":
        return not_(replayed)
    if kind == "replay":
        return and_(replayed, or_(r.replay.is_(None), not_(_is_stage(dialect))))
    return _is_stage(dialect)


def _has_graph(graph: str) -> ColumnElement[bool]:
    """The runs of a graph by its name (or, for a replay, the ``module:attr`` it imported)
    or by the import path its ``run_start`` recorded."""
    pattern = "%" + _like_literal('"graph_ref":' + canonical_json(graph)) + "%"
    started_as = (
        select(_ev.gseq)
        .where(_ev.run_id == run_table.c.run_id, _ev.kind == "run_start")
        .where(_ev.payload.like(pattern, escape="\\"))
        .exists()
    )
    return or_(run_table.c.graph == graph, started_as)


def run_kind(parent_run_id: str | None, replay: dict[str, Any] | None) -> RunKind:
    """A run's kind from its row, as ``_has_kind`` selects it."""
    stage = (replay or {}).get("stage")
    if isinstance(stage, dict) and stage.get("suite") is not None:
        return "stage"
    return "replay" if parent_run_id is not None or replay is not None else "recorded"


class RunQueries:
    """Mixed into ``Store``: the runs, their records and run references."""

    _read: Engine
    url: str
    dialect: str

    def resolve_run(self, ref: str) -> str:
        """The full run id for a run id or unique prefix of at least 6 characters."""
        ref = (ref or "").strip()
        if not ref:
            raise BadInputError("empty run reference")
        with translate_errors(), self._read.connect() as conn:
            if conn.execute(select(run_table.c.run_id).where(run_table.c.run_id == ref)).first():
                return ref
            if len(ref) < MIN_PREFIX:
                raise BadInputError(
                    f"a run prefix needs at least {MIN_PREFIX} characters: {ref!r} has "
                    f"{len(ref)} (`lgaudit runs` lists the recorded runs)"
                )
            like = _like_literal(ref) + "%"
            q = (
                select(run_table.c.run_id)
                .where(run_table.c.run_id.like(like, escape="\\"))
                .limit(6)
            )
            matches = [r[0] for r in conn.execute(q)]
        if not matches:
            raise UnknownRunError(ref)
        if len(matches) > 1:
            raise AmbiguousRunError(ref, matches)
        return matches[0]

    def run(self, run_ref: str) -> RunRecord:
        with translate_errors(), self._read.connect() as conn:
            # a full run id (what code passes): statements built once, nothing to resolve
            rows = conn.execute(_RUN_BY_ID, {"run_id": run_ref}).all() if run_ref else []
            if rows:
                return self._records(conn, rows)[0]
        run_id = self.resolve_run(run_ref)
        return self.runs(run_ids=[run_id], limit=None)[0]

    def runs(
        self,
        *,
        thread_id: str | None = None,
        status: str | None = None,
        graph: str | None = None,
        environment: str | None = None,
        kind: str | None = None,
        suite: str | None = None,
        limit: int | None = 50,
        run_ids: Sequence[str] | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, with status, counts and tokens derived from their events.

        Filters (each done in SQL): ``thread_id``; ``status``; ``graph``, a graph's name or
        import path (``module:attr``); ``environment``; ``kind`` (``recorded``, ``replay``
        or ``stage``: a stage or shadow case); ``suite``, the stage cases of that suite.
        """
        conds = self._conditions(thread_id, status, graph, environment, kind, suite, run_ids)
        q = select(run_table, _EVENT_COUNT).where(*conds).order_by(*_NEWEST_FIRST)
        # pages by key, not offset (a store of many runs); the first ``limit`` runs the
        # query finds are the answer unless liveness drops some of them (running/abandoned)
        page = 500 if limit is None else min(limit, 500)
        out: list[RunRecord] = []
        after: tuple[int, str] | None = None
        with translate_errors(), self._read.connect() as conn:
            while limit is None or len(out) < limit:
                qp = (
                    q
                    if after is None
                    else q.where(tuple_(run_table.c.started_at, run_table.c.run_id) < after)
                )
                batch = conn.execute(qp.limit(page)).all()
                if not batch:
                    break
                after = (batch[-1].started_at, batch[-1].run_id)
                for rec in self._records(conn, batch):
                    if status is None or rec["status"] == status:
                        out.append(rec)
                if len(batch) < page:
                    break  # the last page: no need to ask for the next one
        return out if limit is None else out[:limit]

    def count_runs(
        self,
        *,
        thread_id: str | None = None,
        status: str | None = None,
        graph: str | None = None,
        environment: str | None = None,
        kind: str | None = None,
        suite: str | None = None,
        at_most: int | None = None,
    ) -> int:
        """How many runs ``runs(...)`` with these filters lists when given no limit, counting
        no further than ``at_most`` (the newest first): a count of every run of a status
        reads every run (one count in SQL; ``running``/``abandoned`` read the liveness of
        runs with no end)."""
        if status in ("running", "abandoned"):
            filters = {"graph": graph, "environment": environment, "kind": kind, "suite": suite}
            return len(self.runs(thread_id=thread_id, status=status, limit=at_most, **filters))
        conds = self._conditions(thread_id, status, graph, environment, kind, suite, None)
        if at_most is None:
            q = select(func.count()).select_from(run_table).where(*conds)
        else:
            newest = select(run_table.c.run_id).where(*conds).order_by(*_NEWEST_FIRST)
            q = select(func.count()).select_from(newest.limit(at_most).subquery())
        with translate_errors(), self._read.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def _conditions(
        self,
        thread_id: str | None,
        status: str | None,
        graph: str | None,
        environment: str | None,
        kind: str | None,
        suite: str | None,
        run_ids: Sequence[str] | None,
    ) -> list[ColumnElement[bool]]:
        if kind is not None and kind not in KINDS:
            raise BadInputError(f"unknown run kind {kind!r}: use one of {', '.join(KINDS)}")
        if suite is not None and kind not in (None, "stage"):
            raise BadInputError(f"a suite has stage cases only: --suite cannot go with {kind}")
        r = run_table.c
        conds: list[ColumnElement[bool]] = [true()]
        if run_ids is not None:
            conds.append(r.run_id.in_(list(run_ids)))
        else:  # kill orders and shadow progress are not runs of a graph
            conds.append(or_(r.graph.is_(None), r.graph.not_in(INTERNAL_GRAPHS)))
        if thread_id is not None:
            conds.append(r.thread_id == thread_id)
        if environment is not None:
            conds.append(r.environment == environment)
        if graph is not None:
            conds.append(_has_graph(graph))
        if kind is not None:
            conds.append(_has_kind(kind, self.dialect))
        if suite is not None:
            conds.append(and_(_is_stage(self.dialect), _stage_suite(self.dialect) == suite))
        if status is not None:
            conds.append(_has_status(status))
        return conds

    def _records(self, conn: Connection, runs: Sequence[Any]) -> list[RunRecord]:
        ids = [r.run_id for r in runs]
        ends: dict[str, tuple[str, str, int]] = {}
        starts: dict[str, dict[str, Any]] = {}
        tokens: dict[str, int] = defaultdict(int)
        if len(ids) == 1:
            rows = conn.execute(_RUN_FACTS, {"run_id": ids[0]})
        else:
            rows = conn.execute(_FACTS.where(_ev.run_id.in_(ids)))
        for run_id, kind, payload, ts in rows:
            data = json.loads(payload)
            if kind == "llm_end":
                tokens[run_id] += int((data.get("usage") or {}).get("total_tokens") or 0)
            elif kind == "run_start":
                starts.setdefault(run_id, data)
            else:
                ends[run_id] = (kind, data.get("status", ""), ts)
        owners = {
            r: recorder
            for r in ids
            if r not in ends and isinstance(recorder := starts.get(r, {}).get("recorder"), str)
        }
        live = alive(self.url, conn, set(owners.values())) if owners else set()
        records: list[RunRecord] = []
        for r in runs:
            end = ends.get(r.run_id)
            state: RunStatus = "running"
            if end is not None:
                state = (
                    "failed"
                    if end[0] == "run_error"
                    else ("interrupted" if end[1] == "interrupted" else "succeeded")
                )
            elif r.run_id in owners and owners[r.run_id] not in live:
                state = "abandoned"
            replay = json.loads(r.replay) if r.replay else None
            kind = run_kind(r.parent_run_id, replay)
            ref = starts.get(r.run_id, {}).get("graph_ref")
            if not isinstance(ref, str):  # a replay's graph is the ``module:attr`` it imported
                ref = r.graph if kind != "recorded" and r.graph and ":" in r.graph else None
            records.append(
                RunRecord(
                    run_id=r.run_id,
                    thread_id=r.thread_id,
                    parent_run_id=r.parent_run_id,
                    graph=r.graph,
                    status=state,
                    started_at=iso(r.started_at) or "",
                    ended_at=iso(end[2]) if end else None,
                    environment=r.environment,
                    event_count=r.event_count,
                    tokens=tokens.get(r.run_id, 0),
                    replay=replay,
                    kind=kind,
                    graph_ref=ref,
                )
            )
        return records
