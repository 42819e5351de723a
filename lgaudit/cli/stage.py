"""``lgaudit stage``: run a staging suite against a candidate graph; exit 0 promote, 1 block."""

from __future__ import annotations

import contextlib
import os
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
from lgaudit.cli.audit import _write
from lgaudit.suitefile import read_suite


@cli.command("stage")
@click.argument("suite", metavar="SUITE.toml")
@click.option(
    "--graph",
    metavar="MODULE:ATTR",
    help="The candidate graph to stage, overriding [suite] graph (e.g. app.agent:graph).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Run the cases in N processes.",
)
@click.option(
    "--junit",
    "junit_file",
    metavar="FILE",
    help="Also write JUnit XML: a testcase per case and per check.",
)
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    help="Also write a self-contained HTML report: checks, coverage, each case and its diff.",
)
@db_option
@json_option
@pass_context
def stage_cmd(
    obj: Context,
    suite: str,
    graph: str | None,
    workers: int,
    junit_file: str | None,
    html_file: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Stage a candidate graph: replay the suite's recorded [traffic] on it, run its
    scenarios with simulated humans and the fault matrix, audit every run, and print one
    verdict — the checks, then the changed and failed cases. Every case is recorded as a
    run in the store; on a terminal, stderr counts the cases as they finish. With --json,
    one document on stdout (the README's "Stage" section shows it).

    Exit codes: 0 promote (every required check holds), 1 block, 2 bad input (the suite,
    the graph, a scenario input or model price; reported before any case runs, the store
    unchanged).
    """
    read_suite(suite)  # a missing or unreadable file: said before any other import
    from lgaudit.stage.arguments import check_stage

    # a missing or malformed suite, graph module or store is said before LangGraph is imported
    loaded = check_stage(suite, graph=graph, url=obj.db, workers=workers)
    from lgaudit import stage
    from lgaudit.stage.report import render_html, render_junit
    from lgaudit.stage.text import render_text
    from lgaudit.stage.timeout import stuck

    progress = _progress if sys.stderr.isatty() else None
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet:  # the graph's own prints: with --json, stdout is one JSON document
        result = stage(loaded, url=obj.db, graph=graph, workers=workers, progress=progress)
    if progress is not None:
        click.echo("\r\033[K", nl=False, err=True)
    if junit_file:
        _write(junit_file, render_junit(result))
    if html_file:
        _write(html_file, render_html(result))
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(render_text(result))
    code = 0 if result.promoted else EXIT_FINDINGS
    if stuck():  # a case blocked forever in a task thread would hold the exit
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    if code:
        sys.exit(code)


def _progress(done: int, total: int, regressions: int) -> None:
    click.echo(
        f"\r\033[Kstage: {done}/{total} cases, {regressions} regressions", nl=False, err=True
    )
