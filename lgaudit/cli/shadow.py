"""``lgaudit shadow``: replay new recorded runs on a candidate as they land; exit 0 while
the rolling verdict is promote, 1 when it is block."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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
from lgaudit.suitefile import read_suite

if TYPE_CHECKING:
    from lgaudit.stage import StageCase


@cli.command("shadow")
@click.argument("suite", metavar="SUITE.toml")
@click.option(
    "--graph",
    metavar="MODULE:ATTR",
    help="The candidate graph, overriding [suite] graph. Each candidate has its own position, "
    "progress and verdict: a new one starts from the beginning of the traffic.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep watching for new runs. Ctrl-C stops after the run in hand and prints the "
    "verdict so far, with its exit code; a second Ctrl-C aborts.",
)
@click.option(
    "--max-runs",
    type=int,
    default=None,
    metavar="N",
    help="Stop after replaying N runs (at least 1).",
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
) -> None:  # fmt: skip
    """Shadow a candidate graph: replay each recorded run the suite's [traffic] matches
    and this candidate has not replayed yet (tools always from the recording, never live),
    diff it against its source, and keep a rolling verdict over every run this suite and
    candidate have replayed. Prints each run as it is replayed, then the verdict and the
    regressions behind it. With --json, one document: this call's cases, and in "runs"
    every run behind the verdict with its outcome and first divergence.

    Exit codes: 0 the rolling verdict is promote, 1 block, 2 bad input (the suite, the
    graph, --max-runs; the store unchanged).
    """
    read_suite(suite)  # a missing or unreadable file: said before any other import
    from lgaudit.stage.arguments import check_shadow

    # a missing or malformed suite, graph module or store is said before LangGraph is imported
    loaded = check_shadow(suite, graph=graph, url=obj.db, max_runs=max_runs)
    from lgaudit.stage.shadow import shadow
    from lgaudit.stage.text import render_shadow, shadow_case_line

    def show(case: StageCase) -> None:
        click.echo(shadow_case_line(case), err=as_json)

    stop = threading.Event()
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet, _stop_on_interrupt(stop):  # the graph's own prints: stdout is one document
        result = shadow(
            loaded,
            url=obj.db,
            graph=graph,
            follow=follow,
            max_runs=max_runs,
            progress=show,
            stop=stop,
        )
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(render_shadow(result))
    if result.verdict != "promote":
        sys.exit(EXIT_FINDINGS)


@contextlib.contextmanager
def _stop_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets ``stop`` (the shadow ends after the run in hand, with the
    verdict so far); a second one interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(_signum: int, _frame: Any) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        click.echo(
            "lgaudit shadow: stopping after the run in hand (Ctrl-C again to abort)", err=True
        )

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
