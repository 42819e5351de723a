"""``lgaudit demo``: record, replay, diff and audit real graphs on the default store, each
part printed as it is done."""

from __future__ import annotations

from typing import Any

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context


@cli.command()
@db_option
@json_option
@pass_context
def demo(obj: Context, as_json: bool) -> None:
    """Record real graphs, replay, diff, audit, stage three candidate versions, verify.

    Exit codes: 0 the demo ran, 2 bad input (the store cannot be used).
    """
    if not as_json:  # before LangGraph is imported: a few seconds on a busy machine
        click.echo("lgaudit demo: recording the seed's staging graph and an approval agent ...")
    from lgaudit.demo_run import demo_parts

    doc: dict[str, Any] = {}
    for part, doc in demo_parts(obj.db):
        if not as_json:
            _PARTS[part](doc)  # click.echo flushes: each part shows as soon as it is done
    if as_json:
        emit_json(doc)
        return
    _try_next(doc, f" --db {obj.db}" if obj.db else "")


def _recorded(doc: dict[str, Any]) -> None:
    agent_runs = doc["agent_runs"]
    click.echo(f"recorded into {doc['url']}")
    click.echo(f"  staging demo graph (plan -> execute -> review): run {doc['staging_run']}")
    click.echo(
        f"  approval agent, thread {doc['agent_thread']}: run {agent_runs[0]} "
        f"(interrupted at human_review), run {agent_runs[-1]} (resumed with 'approve')"
    )


def _replayed(doc: dict[str, Any]) -> None:
    strict, faulty = doc["strict_replay"], doc["fault_replay"]
    click.echo(f"replayed run {doc['agent_runs'][-1][:12]}:")
    click.echo(
        f"  strict cassette: run {strict['run_id']} {strict['status']}, "
        f"{strict['live_calls']} live model/tool calls"
    )
    click.echo(f"  tools:TimeoutError@1 injected: run {faulty['run_id']} {faulty['status']}")


def _diff(doc: dict[str, Any]) -> None:
    same = "identical" if doc["diff_identical"] else "DIFFERENT"
    click.echo(f"diff original vs strict replay: {same}")


def _audit(doc: dict[str, Any]) -> None:
    click.echo(f"audit with {doc['policy']}: {len(doc['findings'])} finding(s)")
    for f in doc["findings"]:
        click.echo(
            f"  {f['rule']} ({f['severity']}) run {f['run_id'][:12]} step {f['step']} "
            f"node {f['node']}: {f['message']}"
        )


def _traffic(doc: dict[str, Any]) -> None:
    staged = doc["stage"]
    click.echo(
        f"recorded production traffic: {len(staged['traffic_runs'])} runs of the approval "
        f"agent in environment {staged['environment']} (each request interrupted, then "
        "answered; the last one still waits for its human)"
    )
    click.echo(
        f"staging three candidate versions with {staged['suite']} (that traffic, "
        "simulated humans, the fault matrix, the cost envelope, a case timeout, the tool "
        "sandbox, a load run, the thread waiting for a human):"
    )


def _staged(label: str) -> Any:
    def show(doc: dict[str, Any]) -> None:
        s = doc["stage"][label]
        failing = ", ".join(c["name"] for c in s["failed_checks"])
        line = f"  {s['graph']}: {s['verdict'].upper()} ({s['cases']} cases)"
        click.echo(line + (f"; failing checks: {failing}" if failing else ""))
        first = s["first_changed"]
        if first and first["first_divergence"]:
            from lgaudit.stage.words import divergence  # as stage and shadow say it

            said = divergence(first["first_divergence"])
            click.echo(f"    first changed case: {first['case']}, {said}")
        held = [c["name"] for c in s["new_checks"] if c["ok"]]
        if held:
            click.echo(f"    new checks held: {', '.join(held)}")
        for check in s["new_checks"]:
            if not check["ok"]:  # the timings come last: cut off, the line is the same each time
                from lgaudit.stage.words import shorten

                click.echo(f"    FAIL {check['name']}: {shorten(check['detail'], 120)}")

    return show


def _verified(doc: dict[str, Any]) -> None:
    v, own = doc["verify"], doc["recorded"]
    click.echo(
        f"verify: {'ok' if v['ok'] else 'BROKEN'} (the whole chain); this demo recorded "
        f"{own['runs']} runs, {own['events']} events"
    )


_PARTS = {
    "recorded": _recorded,
    "replayed": _replayed,
    "diff": _diff,
    "audit": _audit,
    "traffic": _traffic,
    "unchanged": _staged("unchanged"),
    "fast_lane": _staged("fast_lane"),
    "renamed_gate": _staged("renamed_gate"),
    "verified": _verified,
}


def _try_next(doc: dict[str, Any], db: str) -> None:
    staging, agent_runs = doc["staging_run"], doc["agent_runs"]
    faulty = doc["fault_replay"]["run_id"]
    click.echo("\ntry next:")
    for command in (
        "lgaudit runs",
        f"lgaudit show {staging[:8]}",
        f"lgaudit show {agent_runs[0][:8]}",
        f"lgaudit checkpoints {agent_runs[-1][:8]}",
        f"lgaudit replay {agent_runs[-1][:8]} --graph lgaudit.demo:agent "
        "--inject agent:TimeoutError@1",
        f"lgaudit diff {agent_runs[-1][:8]} {faulty[:8]}",
        f"lgaudit audit {staging[:8]} --policy {doc['policy']}",
        f"lgaudit blame {staging[:8]} approved",
        f"lgaudit report {agent_runs[-1][:8]} --against {faulty[:8]} --html report.html",
        f"lgaudit stage {doc['stage']['suite']} --graph lgaudit.demo:agent_fast_lane "
        "--html stage.html",
        "lgaudit verify",
        "lgaudit ui --open",  # the review console over all of the above
    ):
        click.echo(f"  {command}{db}")
