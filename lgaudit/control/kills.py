"""Kill orders: ``lgaudit kill`` records one, ``lgaudit kill --lift`` records its end.

An order is a row of ``lgaudit_kill_orders`` recorded by a ``guard`` event of a short run of
its own (graph ``lgaudit:kill``: ``run_start``, ``guard``, ``run_end``), so the orders are
append-only and in the hash chain: ``verify`` finds an edited or removed order by its
event's ``rows_digest``. Every recorder that obeys kill orders (all but those built with
``kill_switch=False``) reads the orders recorded after the last one it saw
(``orders_since``), a single indexed query, every 250 ms.

``kill`` also says whom the order reaches as it is recorded (``Reach``): the running runs it
targets (their ``run_start`` names the recorder and whether it obeys kill orders) and the
live recorders that obey them, known from their liveness locks.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any, TypedDict

from sqlalchemy import or_, select

from lgaudit.errors import BadInputError
from lgaudit.store.engine import translate_errors
from lgaudit.store.liveness import environment_key, recorder_key, watching
from lgaudit.store.records import INTERNAL_GRAPHS, KILL_GRAPH, NewEvent, NewRun, iso, now_us
from lgaudit.store.store import Store
from lgaudit.store.tables import events as event_table
from lgaudit.store.tables import kill_orders
from lgaudit.store.tables import runs as run_table


class OrderRow(TypedDict):
    """One row of ``lgaudit_kill_orders`` as read back."""

    gseq: int
    order_id: str
    action: str
    environment: str | None
    thread_id: str | None
    run_id: str | None
    reason: str
    ts: int


@dataclass(frozen=True)
class Reach:
    """Whom a kill order reached when it was recorded (``lgaudit kill`` prints it)."""

    recorders: int
    """Live recorders that obey kill orders and run a run the order targets — or, for an
    order on an environment or on every run, record that environment (or any)."""
    runs: tuple[str, ...]
    """The running runs it targets, of recorders that obey kill orders: each stops at its
    next node, model or tool call."""
    opted_out: tuple[str, ...] = ()
    """Running runs it targets whose recorder was built with ``kill_switch=False``."""
    target_used: bool = True
    """Whether any recorded run ever had the order's thread or environment."""

    def to_json(self) -> dict[str, Any]:
        return {
            "recorders": self.recorders,
            "running_runs": len(self.runs),
            "run_ids": list(self.runs),
            "opted_out_runs": list(self.opted_out),
            "target_used": self.target_used,
        }


@dataclass(frozen=True)
class Kill:
    """A kill order and, once lifted, its end (what ``lgaudit kills --json`` lists).
    ``reach`` is set on the order ``kill`` returns: whom it reached when recorded."""

    id: str
    environment: str | None
    thread_id: str | None
    run_id: str | None
    reason: str
    created_at: str
    active: bool
    lifted_at: str | None = None
    lift_reason: str | None = None
    reach: Reach | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["reach"]
        if self.reach is not None:
            out["reach"] = self.reach.to_json()
        return out

    def target(self) -> str:
        if self.environment is not None:
            return f"environment {self.environment}"
        if self.thread_id is not None:
            return f"thread {self.thread_id}"
        if self.run_id is not None:
            return f"run {self.run_id}"
        return "every run"


def kill(
    *,
    reason: str,
    environment: str | None = None,
    thread: str | None = None,
    run: str | None = None,
    url: str | None = None,
) -> Kill:
    """Record an order stopping the runs of one environment, thread or run (or, with none
    given, every run) on every recorder of the store that obeys kill orders, in any process
    (``lgaudit kill``): running ones at their next node, model or tool call, new ones at
    their start, until lifted. The order returned says whom it reached (``reach``)."""
    if not reason or not reason.strip():
        raise BadInputError("a kill order needs --reason TEXT (what an operator will read)")
    if sum(x is not None for x in (environment, thread, run)) > 1:
        raise BadInputError("give at most one of --environment, --thread, --run")
    for name, value in (("--environment", environment), ("--thread", thread), ("--run", run)):
        if value is not None and not value.strip():
            raise BadInputError(f"{name} must not be empty")
    with Store(url) as store:  # an order may come before the first run is recorded
        return _kill(store, reason, environment, thread, run)


def _kill(
    store: Store, reason: str, environment: str | None, thread: str | None, run: str | None
) -> Kill:
    run_id = store.resolve_run(run) if run is not None else None
    order_id = uuid.uuid4().hex[:12]
    row = {
        "order_id": order_id,
        "action": "kill",
        "environment": environment,
        "thread_id": thread,
        "run_id": run_id,
        "reason": reason,
        "ts": now_us(),
    }
    _record(store, row)
    order = _kills(orders_since(store, 0), order_id)[0]
    return replace(order, reach=reach(store, environment, thread, run_id))


def reach(store: Store, environment: str | None, thread: str | None, run_id: str | None) -> Reach:
    """Whom an order on this target reaches now: the running runs it targets and the live
    recorders that obey kill orders and run one of them (or record its environment)."""
    if run_id is not None:
        found = store.runs(run_ids=[run_id], limit=None)
    else:
        found = store.runs(thread_id=thread, status="running", limit=None)
    running = [
        r["run_id"]
        for r in found
        if r["status"] == "running" and environment in (None, r["environment"])
    ]
    with translate_errors(), store._read.connect() as conn:
        owners = _owners(conn, running)
        keys = {recorder_key(o[0]) for o in owners.values() if o[1]}
        if thread is None and run_id is None:
            env = environment_key(environment)
            live = watching(store.url, conn)
            keys |= {k for k, e in live.items() if environment is None or e == env}
        used = True
        if thread is not None or environment is not None:
            column = run_table.c.thread_id if thread is not None else run_table.c.environment
            q = select(run_table.c.run_id).where(
                column == (thread if thread is not None else environment),
                or_(run_table.c.graph.is_(None), run_table.c.graph.not_in(INTERNAL_GRAPHS)),
            )
            used = conn.execute(q.limit(1)).first() is not None
    return Reach(
        recorders=len(keys),
        runs=tuple(r for r in running if owners.get(r, ("", False))[1]),
        opted_out=tuple(r for r in running if r in owners and not owners[r][1]),
        target_used=used,
    )


def _owners(conn: Any, run_ids: list[str]) -> dict[str, tuple[str, bool]]:
    """Each run's recorder and whether it obeys kill orders, as its ``run_start`` says."""
    if not run_ids:
        return {}
    q = select(event_table.c.run_id, event_table.c.payload).where(
        event_table.c.run_id.in_(run_ids), event_table.c.kind == "run_start"
    )
    out: dict[str, tuple[str, bool]] = {}
    for rid, payload in conn.execute(q):
        start = json.loads(payload)
        if isinstance(start.get("recorder"), str):
            out[rid] = (start["recorder"], start.get("kill_switch") is True)
    return out


def lift_kill(order_id: str, *, reason: str | None = None, url: str | None = None) -> Kill:
    """Record the end of an active kill order, by id or a unique prefix (``lgaudit kill
    --lift``): matching runs may start again."""
    with Store.open(url) as store:
        return _lift(store, order_id, reason)


def _lift(store: Store, order_id: str, reason: str | None) -> Kill:
    matches = [k for k in _kills(orders_since(store, 0)) if k.id.startswith(order_id)]
    matches = matches if order_id else []
    if len(matches) != 1:
        what = "no kill order" if not matches else "more than one kill order"
        raise BadInputError(f"{what} matches {order_id!r}: `lgaudit kills` lists them")
    order = matches[0]
    if not order.active:
        raise BadInputError(f"kill order {order.id} was already lifted at {order.lifted_at}")
    row = {
        "order_id": order.id,
        "action": "lift",
        "environment": order.environment,
        "thread_id": order.thread_id,
        "run_id": order.run_id,
        "reason": reason or "lifted",
        "ts": now_us(),
    }
    _record(store, row)
    return _kills(orders_since(store, 0), order.id)[0]


def kills(*, url: str | None = None) -> list[Kill]:
    """Every kill order, newest first, with whether it is still in force (``lgaudit kills``)."""
    with Store.open(url) as store:
        return _kills(orders_since(store, 0))


def orders_since(store: Store, gseq: int) -> list[OrderRow]:
    """Kill and lift rows recorded after global position ``gseq``, in chain order."""
    q = select(kill_orders).where(kill_orders.c.gseq > gseq).order_by(kill_orders.c.gseq)
    with translate_errors(), store._read.connect() as conn:
        return [OrderRow(**r) for r in conn.execute(q).mappings()]  # type: ignore[typeddict-item]


def _kills(rows: list[OrderRow], only: str | None = None) -> list[Kill]:
    orders: dict[str, Kill] = {}
    for r in rows:
        if only is not None and r["order_id"] != only:
            continue
        if r["action"] == "kill":
            orders[r["order_id"]] = Kill(
                id=r["order_id"],
                environment=r["environment"],
                thread_id=r["thread_id"],
                run_id=r["run_id"],
                reason=r["reason"],
                created_at=iso(r["ts"]) or "",
                active=True,
            )
        elif r["order_id"] in orders:
            k = orders[r["order_id"]]
            orders[r["order_id"]] = Kill(
                **{
                    **k.to_json(),
                    "active": False,
                    "lifted_at": iso(r["ts"]),
                    "lift_reason": r["reason"],
                }
            )
    return sorted(orders.values(), key=lambda k: k.created_at, reverse=True)


def _record(store: Store, row: dict[str, Any]) -> None:
    from lgaudit.store.schema import KillOrder  # the writer's row model (and the ORM)

    run = NewRun(
        run_id=str(uuid.uuid4()),
        graph=KILL_GRAPH,
        environment=row["environment"],
        thread_id=None,
    )
    order = {k: v for k, v in row.items() if k != "ts"}
    store.append(
        [
            NewEvent(
                run=run, kind="run_start", payload={"graph": KILL_GRAPH, "operation": row["action"]}
            ),
            NewEvent(
                run=run,
                kind="guard",
                payload={"rule": "guard.killed", "order": order},
                rows=[(KillOrder, row)],
            ),
            NewEvent(run=run, kind="run_end", payload={"status": "succeeded"}),
        ]
    )
