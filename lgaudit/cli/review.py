"""``lgaudit stages``, ``signoff``, ``signoffs`` and ``promotable``: review and sign-off of
stage results, and the question a deploy pipeline asks."""

from __future__ import annotations

import sys
from typing import Any

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
@click.option("--suite", metavar="S", help="Only the stage results of this suite (its name).")
@click.option("--graph", metavar="G", help="Only those of this candidate graph (module:attr).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    metavar="N",
    help="At most N results.",
)
@db_option
@json_option
@pass_context
def stages(
    obj: Context, suite: str | None, graph: str | None, limit: int, as_json: bool
) -> None:  # fmt: skip
    """List stage results, newest first: each `lgaudit stage` and each change of a
    shadow's rolling verdict, with its verdict, case count and latest sign-off.

    Exit codes: 0 listed, 2 bad input.
    """
    from lgaudit.review.public import stages as list_stages

    found = list_stages(suite=suite, graph=graph, limit=limit + 1, url=obj.db)
    more, found = len(found) > limit, found[:limit]
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no stage results")
    for s in found:
        click.echo(
            f"{s['stage_id'][:12]}  {s['ts']}  {s['kind']:<6}  {s['verdict']:<7}  "
            f"{s['cases']:>4} cases  {s['suite']}  {s['graph']}  {_signed(s['signoff'])}"
        )
    if more:
        click.echo(f"(more stage results than these {limit}: raise --limit)")


def _signed(signoff: dict[str, Any] | None) -> str:
    if signoff is None:
        return "not signed off"
    how = " (override)" if signoff["override"] else ""
    done = "approved" if signoff["decision"] == "approve" else "rejected"
    return f"{done}{how} by {signoff['by']}"


@cli.command()
@click.argument("stage", metavar="STAGE")
@click.option("--by", "by", metavar="NAME", required=True, help="Who signs (recorded).")
@click.option(
    "--decision",
    type=click.Choice(["approve", "reject"]),
    required=True,
    help="approve or reject the stage result.",
)
@click.option("--note", metavar="TEXT", help="A note kept with the sign-off.")
@click.option(
    "--override",
    metavar="REASON",
    help="Approve a block verdict anyway; the reason is recorded (needed for that).",
)
@db_option
@json_option
@pass_context
def signoff(
    obj: Context,
    stage: str,
    by: str,
    decision: str,
    note: str | None,
    override: str | None,
    as_json: bool,
) -> None:
    """Record a sign-off of a stage result (STAGE: its id or a unique prefix of at least 6
    characters, as `lgaudit stages` lists them): append-only and in the hash chain.
    Approving a block verdict needs --override REASON.

    Exit codes: 0 recorded, 2 bad input (an unknown stage, approving a block verdict
    without --override; nothing is recorded).
    """
    from lgaudit.review.public import signoff as add

    done = add(stage, by=by, decision=decision, note=note, override=override, url=obj.db)
    if as_json:
        emit_json(done)
        return
    how = f" (override: {done['override']})" if done["override"] else ""
    click.echo(
        f"sign-off {done['signoff_id'][:12]} recorded: {done['by']} "
        f"{'approved' if done['decision'] == 'approve' else 'rejected'} stage "
        f"{done['stage_id'][:12]}{how}"
    )


@cli.command()
@click.argument("stage", metavar="[STAGE]", required=False)
@db_option
@json_option
@pass_context
def signoffs(obj: Context, stage: str | None, as_json: bool) -> None:
    """List sign-offs, newest first: of one stage result (id or unique prefix), or all.

    Exit codes: 0 listed, 2 bad input (an unknown stage).
    """
    from lgaudit.review.public import signoffs as list_signoffs

    found = list_signoffs(stage, url=obj.db)
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no sign-offs")
    for s in found:
        extra = f"  override: {s['override']}" if s["override"] else ""
        note = f"  note: {s['note']}" if s["note"] else ""
        click.echo(
            f"{s['signoff_id'][:12]}  {s['ts']}  stage {s['stage_id'][:12]}  "
            f"{s['decision']:<7}  by {s['by']}{note}{extra}"
        )


@cli.command()
@click.argument("suite", metavar="SUITE")
@click.option("--graph", metavar="G", help="The candidate graph (module:attr) to ask about.")
@db_option
@json_option
@pass_context
def promotable(obj: Context, suite: str, graph: str | None, as_json: bool) -> None:
    """May the newest stage result of SUITE (its name; of candidate --graph, when given)
    be promoted? Yes only when it says promote and its latest sign-off approves it, or it
    says block and its latest sign-off approved it with --override. The step a deploy
    pipeline runs; prints why, naming what is missing (no stage result, blocked, no
    sign-off, rejected later).

    Exit codes: 0 promotable, 1 not, 2 bad input.
    """
    from lgaudit.review.public import promotable as ask

    answer = ask(suite, graph=graph, url=obj.db)
    if as_json:
        emit_json(answer.to_json())
    else:
        click.echo(f"{'PROMOTABLE' if answer.ok else 'NOT PROMOTABLE'}: {answer.reason}")
    if not answer.ok:
        sys.exit(EXIT_FINDINGS)
