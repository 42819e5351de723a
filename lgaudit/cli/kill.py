"""``lgaudit kill`` / ``lgaudit kills``: the kill switch of every recorder on the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context
from lgaudit.errors import BadInputError

if TYPE_CHECKING:
    from lgaudit.control.kills import Kill


@cli.command()
@click.option("--environment", metavar="E", help="Stop every run of this environment.")
@click.option("--thread", metavar="T", help="Stop every run of this thread.")
@click.option("--run", metavar="RUN", help="Stop this run (id or unique prefix).")
@click.option("--reason", metavar="TEXT", help="Why (required for a kill order).")
@click.option("--lift", "lift", metavar="ID", help="End the kill order ID instead.")
@db_option
@json_option
@pass_context
def kill(
    obj: Context,
    environment: str | None,
    thread: str | None,
    run: str | None,
    reason: str | None,
    lift: str | None,
    as_json: bool,
) -> None:
    """Stop matching runs on every recorder of the store, within a second.

    Every recorder on the store, in any process (lgaudit stage, replay and shadow too),
    refuses new matching runs and stops running ones at their next node, model or tool
    call, until --lift ID; only Recorder(kill_switch=False) opts out. Prints how many live
    recorders and running runs the order reaches (--json: the order with its "reach").
    No target: every run.

    Exit codes: 0 the order is recorded (or lifted), 2 bad input.
    """
    from lgaudit.control.kills import kill as kill_runs
    from lgaudit.control.kills import lift_kill

    if lift is not None:
        if environment is not None or thread is not None or run is not None:
            raise BadInputError("--lift ID ends an order: give no --environment/--thread/--run")
        order = lift_kill(lift, reason=reason, url=obj.db)
        if as_json:
            emit_json(order.to_json())
        else:
            click.echo(f"lifted kill order {order.id} ({order.target()}) at {order.lifted_at}")
        return
    order = kill_runs(
        reason=reason or "", environment=environment, thread=thread, run=run, url=obj.db
    )
    if as_json:
        emit_json(order.to_json())
        return
    click.echo(f"kill order {order.id} recorded: {order.target()} ({order.reason})")
    click.echo(f"  {_reach_text(order)}")
    click.echo(f"  lift it with: lgaudit kill --lift {order.id}")


def _reach_text(order: Kill) -> str:
    reach = order.reach
    assert reach is not None
    if not reach.recorders and not reach.runs:
        unused = "" if reach.target_used else f"; no run was ever recorded on {order.target()}"
        text = (
            f"it reaches nothing now: no live recorder and no running run match "
            f"{order.target()}{unused}. Runs that start matching it are refused until "
            "it is lifted"
        )
    else:
        recorders = _count(reach.recorders, "live recorder")
        runs = _count(len(reach.runs), "running run")
        text = (
            f"reaches {recorders} and {runs}: running ones stop at their next node, "
            "model or tool call, new matching runs are refused"
        )
    if reach.opted_out:
        text += (
            f" ({_count(len(reach.opted_out), 'running run')} of a recorder built with "
            "kill_switch=False not reached)"
        )
    return text


def _count(n: int, what: str) -> str:
    return f"no {what}" if n == 0 else f"{n} {what}{'s' if n != 1 else ''}"


@cli.command()
@db_option
@json_option
@pass_context
def kills(obj: Context, as_json: bool) -> None:
    """List kill orders, newest first, and whether each is still in force.

    Exit codes: 0 listed, 2 bad input.
    """
    from lgaudit.control.kills import kills as list_kills

    orders = list_kills(url=obj.db)
    if as_json:
        emit_json([k.to_json() for k in orders])
        return
    if not orders:
        click.echo("no kill orders")
    for k in orders:
        state = "ACTIVE" if k.active else f"lifted {k.lifted_at}"
        click.echo(f"{k.id}  {state:<36}  {k.target():<30}  {k.created_at}  {k.reason}")
