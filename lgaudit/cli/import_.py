"""``lgaudit import``: LangSmith or Langfuse exports recorded as runs (traffic for stage)."""

from __future__ import annotations

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context


@cli.command("import")
@click.argument("file", metavar="FILE")
@click.option(
    "--from",
    "source",
    type=click.Choice(["langsmith", "langfuse"]),
    required=True,
    help="langsmith: runs (JSON or JSONL); langfuse: observations (JSON or JSONL).",
)
@click.option("--graph", metavar="NAME", help="The graph name to record (default: the root's).")
@click.option("--environment", metavar="E", help="The environment to record the runs under.")
@db_option
@json_option
@pass_context
def import_(
    obj: Context,
    file: str,
    source: str,
    graph: str | None,
    environment: str | None,
    as_json: bool,
) -> None:
    """Record the traces of a LangSmith or Langfuse export as runs.

    Each trace's root run becomes a recorded run (its run_start names the source and the
    original ids) with its node, model and tool events, usable as [traffic] of
    `lgaudit stage`: replayed from its input, its model and tool results served as the
    cassette. Importing a file again adds nothing. The whole file is checked before
    anything is written.

    Exit codes: 0 imported (or nothing new), 2 bad input (not such an export, a truncated
    file, an unknown run type: the line is named; the store is unchanged).
    """
    from lgaudit.interop.importer import import_file

    result = import_file(file, source=source, graph=graph, environment=environment, url=obj.db)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(
        f"imported {len(result.imported)} run(s), {result.events} events"
        + (f"; {len(result.already)} already imported" if result.already else "")
        + (f"; {result.ignored} trace(s) that ran no graph ignored" if result.ignored else "")
    )
    for run_id in result.imported:
        click.echo(f"  {run_id}")
