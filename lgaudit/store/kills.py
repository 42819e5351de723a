"""Kill orders: ``lgaudit kill`` records one, ``lgaudit kill --lift`` records its end.

An order is a row of ``lgaudit_kill_orders`` recorded by a ``guard`` event of a short run of
its own (graph ``lgaudit:kill``: ``run_start``, ``guard``, ``run_end``), so the orders are
append-only and in the hash chain: ``verify`` finds an edited or removed order by its
event's ``rows_digest``. Guarded recorders read the orders recorded after the last one
they saw (``orders_since``), a single indexed query.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from sqlalchemy import select

from lgaudit.errors import BadInputError
from lgaudit.store.engine import translate_errors
from lgaudit.store.records import KILL_GRAPH, NewEvent, NewRun, iso, now_us
from lgaudit.store.store import Store
from lgaudit.store.tables import kill_orders


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
class Kill:
    """A kill order and, once lifted, its end (what ``lgaudit kills --json`` lists)."""

    id: str
    environment: str | None
    thread_id: str | None
    run_id: str | None
    reason: str
    created_at: str
    active: bool
    lifted_at: str | None = None
    lift_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

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
    given, every run) on every guarded recorder of the store (``lgaudit kill``): running
    ones at their next node, model or tool call, new ones at their start, until lifted."""
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
    return _kills(orders_since(store, 0), order_id)[0]


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
