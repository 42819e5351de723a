"""``lgaudit replay``: re-execute a recorded run from a checkpoint, recorded as a new run."""

from __future__ import annotations

import contextlib
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
@click.argument("run")
@click.option(
    "--graph",
    "graph",
    required=True,
    metavar="MODULE:ATTR",
    help="The graph to run: compiled graph, StateGraph, or zero-argument factory.",
)
@click.option(
    "--from",
    "from_checkpoint",
    metavar="CHECKPOINT_ID",
    help="Start at this checkpoint of the run (id or unique prefix).",
)
@click.option("--from-step", type=int, metavar="N", help="Start at the root checkpoint of step N.")
@click.option("--from-node", metavar="NAME", help="Start just before NAME first ran.")
@click.option(
    "--cassette",
    type=click.Choice(["strict", "lenient", "off"]),
    default="strict",
    show_default=True,
    help="Serve recorded model/tool results.",
)
@click.option(
    "--swap-model",
    "swaps",
    multiple=True,
    metavar="NAME=MODULE:ATTR",
    help="Replace a model (by recorded name, or *) with another chat model.",
)
@click.option(
    "--inject",
    "faults",
    multiple=True,
    metavar="TARGET[:Exc[:msg]][@N]",
    help="Raise at a node, llm:NAME or tool:NAME (on attempt N only, with @N).",
)
@click.option("--patch", metavar="JSON", help="State values to apply at the checkpoint first.")
@click.option(
    "--async", "use_async", is_flag=True, default=None, help="Run with ainvoke (async graphs)."
)
@db_option
@json_option
@pass_context
def replay(
    obj: Context,
    run: str,
    graph: str,
    from_checkpoint: str | None,
    from_step: int | None,
    from_node: str | None,
    cassette: str,
    swaps: tuple[str, ...],
    faults: tuple[str, ...],
    patch: str | None,
    use_async: bool | None,
    as_json: bool,
) -> None:
    """Replay RUN from a checkpoint with a cassette, swapped models, faults or a patch.

    `lgaudit show RUN` prints the --graph the run was recorded from when it is known.

    Exit codes: 0 the replay ran, 1 the replayed run failed (recorded all the same),
    2 bad input (unknown run or checkpoint, a --graph that is not a graph, a bad spec).
    """
    from lgaudit.replay.precheck import check_replay

    # a bad spec, a missing module or an unknown run is said before LangGraph is imported
    check_replay(
        run, graph=graph, url=obj.db, where=(from_checkpoint, from_step, from_node),
        cassette=cassette, swaps=swaps, faults=faults, patch=patch,
    )  # fmt: skip
    from lgaudit import replay as run_replay

    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet:  # the graph's own prints: with --json, stdout is one JSON document
        result = run_replay(
            run,
            graph=graph,
            url=obj.db,
            from_checkpoint=from_checkpoint,
            from_step=from_step,
            from_node=from_node,
            cassette=cassette,
            swaps=list(swaps),
            faults=list(faults),
            patch=patch,
            use_async=use_async,
        )
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(
            f"replayed run {result.run_id} ({result.status}) from checkpoint "
            f"{result.from_checkpoint} (step {result.from_step}) of {result.parent_run_id}"
        )
        click.echo(
            f"  cassette {result.cassette}, {result.live_calls} live calls, "
            f"{result.faults_injected} faults injected, thread {result.thread_id}"
        )
        if result.error:
            click.echo(f"  error: {result.error}")
        click.echo(f"  compare: lgaudit diff {result.parent_run_id[:12]} {result.run_id[:12]}")
    if result.status == "failed":
        sys.exit(EXIT_FINDINGS)
