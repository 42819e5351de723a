"""``lgaudit shadow``: replay new recorded runs on a candidate as they land; exit 0 while
the rolling verdict is promote, 1 when it is block."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from lgaudit.stage import StageCase


@cli.command("shadow")
@click.argument("suite", metavar="SUITE.toml")
@click.option("--graph", metavar="MODULE:ATTR", help="The candidate, overriding [suite] graph.")
@click.option("--follow", is_flag=True, help="Keep watching for new runs (Ctrl-C ends it).")
@click.option(
    "--max-runs", type=int, default=None, metavar="N", help="Stop after replaying N runs."
)
@db_option
@json_option
@pass_context
def shadow_cmd(
    obj: Context,
    suite: str,
    graph: str | None,
    follow: bool,
    max_runs: int | None,
    as_json: bool,
) -> None:
    """Replay each new recorded run the suite's [traffic] matches on the candidate (tools
    always from the recording), diff it against its source, keep a rolling verdict."""
    from lgaudit.stage.shadow import shadow

    def show(case: StageCase) -> None:
        where = f" at {case.first_divergence}" if case.first_divergence else ""
        click.echo(f"{case.case}: {case.outcome}{where}", err=as_json)

    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet:  # the graph's own prints: with --json, stdout is one JSON document
        result = shadow(
            suite, url=obj.db, graph=graph, follow=follow, max_runs=max_runs, progress=show
        )
    if as_json:
        emit_json(result.to_json())
    else:
        check = result.checks[0]
        click.echo(
            f"{result.verdict.upper()}: {result.suite} on {result.graph}: {len(result.cases)} "
            f"run(s) replayed now, {result.replayed} in all; {check.detail}"
        )
    if result.verdict != "promote":
        sys.exit(EXIT_FINDINGS)
