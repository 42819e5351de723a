"""``lgaudit demo``: record the seed's staging graph and an approval-gated agent, verify."""

from __future__ import annotations

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context


@cli.command()
@db_option
@json_option
@pass_context
def demo(obj: Context, as_json: bool) -> None:
    """Record two real graphs into the store, verify it, and show what to try next."""
    from lgaudit.demo import run_demo

    result = run_demo(obj.db)
    if as_json:
        emit_json(result)
        return
    db = f" --db {obj.db}" if obj.db else ""
    staging, agent_runs = result["staging_run"], result["agent_runs"]
    v = result["verify"]
    click.echo(f"recorded into {result['url']}")
    click.echo(f"  staging demo graph (plan -> execute -> review): run {staging}")
    click.echo(f"  approval agent, thread {result['agent_thread']}: run {agent_runs[0]} "
               f"(interrupted at human_review), run {agent_runs[-1]} (resumed with 'approve')")  # fmt: skip
    click.echo(f"verify: {'ok' if v['ok'] else 'BROKEN'}, {v['events_checked']} events in the chain")
    click.echo("\ntry next:")
    click.echo(f"  lgaudit runs{db}")
    click.echo(f"  lgaudit show {staging[:8]}{db}")
    click.echo(f"  lgaudit show {agent_runs[0][:8]}{db}")
    click.echo(f"  lgaudit checkpoints {agent_runs[-1][:8]}{db}")
    click.echo(f"  lgaudit export {staging[:8]} --format jsonl{db}")
    click.echo(f"  lgaudit verify{db}")
