"""``lgaudit runs|show|checkpoints``: what was recorded (``export`` is in ``cli.export``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, get_args

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context
from lgaudit.cli.timeline import render_checkpoints, render_runs, render_timeline
from lgaudit.store.records import RunKind, RunStatus

STATUSES: tuple[str, ...] = get_args(RunStatus)
KINDS: tuple[str, ...] = get_args(RunKind)
#: how many runs past the limit ``runs`` counts (it says "at least" beyond)
MORE_COUNTED = 10_000


@cli.command()
@click.option("--thread", "thread_id", metavar="T", help="Only runs of this thread.")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    help="Only runs with this status (abandoned: a recorder that died mid-run).",
)
@click.option(
    "--graph",
    metavar="G",
    help="Only runs of this graph: its name (as GRAPH shows it) or import path module:attr.",
)
@click.option("--environment", metavar="E", help="Only runs recorded in this environment.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    help="recorded: ordinary runs; replay: replays; stage: stage and shadow cases.",
)
@click.option("--suite", metavar="NAME", help="Only the stage and shadow cases of this suite.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    default=50,
    show_default=True,
    help="List at most N runs; the text says how many more there are (up to 10000).",
)
@db_option
@json_option
@pass_context
def runs(
    obj: Context,
    thread_id: str | None,
    status: str | None,
    graph: str | None,
    environment: str | None,
    kind: str | None,
    suite: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List recorded runs, newest first, with the filters given.

    GRAPH is the graph's name, with the import path a replay needs (--graph module:attr)
    when it was known at run start.

    Exit codes: 0 listed (none matching included), 2 bad input.
    """
    filters = {
        "thread_id": thread_id,
        "status": status,
        "graph": graph,
        "environment": environment,
        "kind": kind,
        "suite": suite,
    }
    with obj.open_store() as store:
        records = store.runs(limit=limit, **filters)
        # counted no further than MORE_COUNTED past the page: counting every run of a
        # status reads every run of a large store
        more = 0
        if len(records) == limit and not as_json:
            more = store.count_runs(**filters, at_most=limit + MORE_COUNTED + 1) - limit
    if as_json:
        emit_json(records)
    else:
        filtered = any(v is not None for v in filters.values())
        capped = more > MORE_COUNTED
        more = min(max(more, 0), MORE_COUNTED)
        text = render_runs(records, more=more, limit=limit, filtered=filtered, capped=capped)
        click.echo(text)


@cli.command()
@click.argument("run")
@db_option
@json_option
@pass_context
def show(obj: Context, run: str, as_json: bool) -> None:
    """Show a run: its timeline by step (nodes, model and tool calls, tokens, interrupts),
    the command that replays it, and its last event's hash.

    RUN is a run id or a unique prefix of at least 6 characters.

    Exit codes: 0 shown, 2 bad input (unknown or ambiguous run).
    """
    with obj.open_store() as store:
        record = store.run(run)
        events = store.expanded_events(record["run_id"])
        if as_json:  # written as read: a long run is never held whole
            for chunk in show_json_chunks(record, events):
                click.echo(chunk, nl=False)
            click.echo()
        else:
            click.echo(render_timeline(record, events))


def show_json_chunks(run: Any, events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """``json.dumps({"run": run, "events": [...]}, indent=2)`` (``emit_json``'s text), an
    event at a time."""

    def dumps(value: Any, indent: str) -> str:
        # JSON strings never hold a raw newline: every one is a line break of the layout
        return json.dumps(value, indent=2, default=str, ensure_ascii=False).replace(
            "\n", "\n" + indent
        )

    yield '{\n  "run": ' + dumps(run, "  ") + ',\n  "events": ['
    sep = "\n    "
    for event in events:
        yield sep + dumps(event, "    ")
        sep = ",\n    "
    yield "]\n}" if sep == "\n    " else "\n  ]\n}"


@cli.command()
@click.argument("run")
@db_option
@json_option
@pass_context
def checkpoints(obj: Context, run: str, as_json: bool) -> None:
    """List a run's checkpoints (id, parent, step, source, namespace, updated channels).

    Exit codes: 0 listed, 2 bad input (unknown or ambiguous run).
    """
    with obj.open_store() as store:
        items = checkpoint_summaries(store.events(run, kinds=["checkpoint"]))
    if as_json:
        emit_json(items)
    else:
        click.echo(render_checkpoints(items))


def checkpoint_summaries(events: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "seq": e["seq"],
            "checkpoint_id": e["checkpoint_id"],
            "parent_checkpoint_id": e["payload"].get("parent_checkpoint_id"),
            "step": e["step"],
            "source": e["payload"].get("source"),
            "checkpoint_ns": e["checkpoint_ns"],
            "updated_channels": e["payload"].get("updated_channels", []),
            "ts": e["ts"],
        }
        for e in events
    ]
