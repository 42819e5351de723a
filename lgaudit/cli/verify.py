"""``lgaudit verify``: recompute the hash chain; exit 1 and name the first bad event."""

from __future__ import annotations

import sys

import click

from lgaudit.cli._base import (
    EXIT_FINDINGS,
    Context,
    cli,
    db_option,
    emit_json,
    json_option,
    pass_context,
)


@cli.command()
@click.option(
    "--run", "run", metavar="RUN", help="Verify one run's events only (id or unique prefix)."
)
@db_option
@json_option
@pass_context
def verify(obj: Context, run: str | None, as_json: bool) -> None:
    """Check the store's hash chain: modified, deleted or reordered events are named.

    Prints the chain's head hash (the last event's; with --run, the run's last event's):
    kept elsewhere, it pins the chain's end.

    Exit codes: 0 the chain verifies, 1 it is broken (the first bad event is named),
    2 bad input.
    """
    with obj.open_store() as store:
        result = store.verify(run=run)
    if as_json:
        emit_json(result)
    elif result["ok"]:
        click.echo(f"ok: {result['events_checked']} events verified")
        if result["head_hash"]:
            click.echo(f"head hash: {result['head_hash']}")
    else:
        bad = result["first_bad"] or {}
        where = f"run {bad.get('run_id')} seq {bad.get('seq')}" if bad.get("run_id") else "store"
        click.echo(
            f"BROKEN at {where}: {bad.get('reason')} "
            f"({result['events_checked']} events verified before it)"
        )
    if not result["ok"]:
        sys.exit(EXIT_FINDINGS)
