"""``lgaudit runs|show|checkpoints|export``: what was recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context
from lgaudit.cli.timeline import render_checkpoints, render_runs, render_timeline


@cli.command()
@click.option("--thread", "thread_id", metavar="T", help="Only runs of this thread.")
@click.option(
    "--status", type=click.Choice(["running", "succeeded", "failed", "interrupted", "abandoned"])
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@db_option
@json_option
@pass_context
def runs(
    obj: Context, thread_id: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """List recorded runs, newest first."""
    with obj.open_store() as store:
        records = store.runs(thread_id=thread_id, status=status, limit=limit)
    if as_json:
        emit_json(records)
    else:
        click.echo(render_runs(records))


@cli.command()
@click.argument("run")
@db_option
@json_option
@pass_context
def show(obj: Context, run: str, as_json: bool) -> None:
    """Show a run: its timeline by step (nodes, model and tool calls, tokens, interrupts)."""
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
    """List a run's checkpoints (id, parent, step, source, namespace, updated channels)."""
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


@cli.command()
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@db_option
@pass_context
def export(obj: Context, run: str, fmt: str) -> None:
    """Export a run's events, one JSON object per line (values expanded)."""
    with obj.open_store() as store:
        for event in store.expanded_events(run):  # each line written as its event is read
            click.echo(json.dumps(event, default=str, ensure_ascii=False))
