"""``lgaudit demo``: record, replay, diff and audit real graphs on the default store."""

from __future__ import annotations

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context


@cli.command()
@db_option
@json_option
@pass_context
def demo(obj: Context, as_json: bool) -> None:
    """Record real graphs, replay, diff, audit, stage two candidate versions, verify.

    Exit codes: 0 the demo ran, 2 bad input (the store cannot be used).
    """
    from lgaudit.demo import run_demo

    result = run_demo(obj.db)
    if as_json:
        emit_json(result)
        return
    db = f" --db {obj.db}" if obj.db else ""
    staging, agent_runs = result["staging_run"], result["agent_runs"]
    strict, faulty = result["strict_replay"], result["fault_replay"]
    v = result["verify"]
    echo = click.echo
    echo(f"recorded into {result['url']}")
    echo(f"  staging demo graph (plan -> execute -> review): run {staging}")
    echo(
        f"  approval agent, thread {result['agent_thread']}: run {agent_runs[0]} "
        f"(interrupted at human_review), run {agent_runs[-1]} (resumed with 'approve')"
    )
    echo(f"replayed run {agent_runs[-1][:12]}:")
    echo(
        f"  strict cassette: run {strict['run_id']} {strict['status']}, "
        f"{strict['live_calls']} live model/tool calls"
    )
    echo(f"  tools:TimeoutError@1 injected: run {faulty['run_id']} {faulty['status']}")
    echo(
        "diff original vs strict replay: "
        + ("identical" if result["diff_identical"] else "DIFFERENT")
    )
    echo(f"audit with {result['policy']}: {len(result['findings'])} finding(s)")
    for f in result["findings"]:
        echo(
            f"  {f['rule']} ({f['severity']}) run {f['run_id'][:12]} step {f['step']} "
            f"node {f['node']}: {f['message']}"
        )
    staged = result["stage"]
    echo(
        f"staged two candidate versions with {staged['suite']} (production traffic, "
        "simulated humans, the fault matrix, the cost envelope):"
    )
    for label in ("unchanged", "fast_lane"):
        s = staged[label]
        failing = ", ".join(c["name"] for c in s["failed_checks"])
        line = f"  {s['graph']}: {s['verdict'].upper()} ({s['cases']} cases)"
        if failing:
            line += f"; failing checks: {failing}"
        echo(line)
        first = s["first_changed"]
        if first:
            fd = first["first_divergence"] or {}
            echo(
                f"    first changed case: {first['case']}, step {fd.get('step')} node "
                f"{fd.get('node')} ({fd.get('kind')} {fd.get('path')}): {fd.get('a')} -> "
                f"{fd.get('b')}"
            )
    echo(f"verify: {'ok' if v['ok'] else 'BROKEN'}, {v['events_checked']} events in the chain")
    echo("\ntry next:")
    for command in (
        "lgaudit runs",
        f"lgaudit show {staging[:8]}",
        f"lgaudit show {agent_runs[0][:8]}",
        f"lgaudit checkpoints {agent_runs[-1][:8]}",
        f"lgaudit replay {agent_runs[-1][:8]} --graph lgaudit.demo:agent "
        "--inject agent:TimeoutError@1",
        f"lgaudit diff {agent_runs[-1][:8]} {faulty['run_id'][:8]}",
        f"lgaudit audit {staging[:8]} --policy {result['policy']}",
        f"lgaudit blame {staging[:8]} approved",
        f"lgaudit report {agent_runs[-1][:8]} --against {faulty['run_id'][:8]} --html report.html",
        f"lgaudit stage {staged['suite']} --graph lgaudit.demo:agent_fast_lane --html stage.html",
        "lgaudit verify",
    ):
        echo(f"  {command}{db}")
