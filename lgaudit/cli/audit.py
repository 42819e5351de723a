"""``lgaudit diff|audit|blame|report``: compare runs, check them against a policy, trace
state keys, and render HTML reports. Exit 1 on differences or error findings."""

from __future__ import annotations

import sys
from pathlib import Path

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
from lgaudit.errors import BadInputError


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise BadInputError(f"cannot write {path!r}: {e.strerror or e}") from None


@cli.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--html", "html_file", metavar="FILE", help="Also write the diff as an HTML page.")
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="PATH",
    help="A path (or glob) whose differences do not count, e.g. state.output.",
)
@db_option
@json_option
@pass_context
def diff_cmd(
    obj: Context,
    run_a: str,
    run_b: str,
    html_file: str | None,
    ignore: tuple[str, ...],
    as_json: bool,
) -> None:
    """Align two runs step by step and show where they first diverge.

    Exit codes: 0 identical, 1 different, 2 bad input.
    """
    from lgaudit.audit import diff
    from lgaudit.audit.report import render_diff

    with obj.open_store() as store:
        result = diff(store, run_a, run_b, ignore=ignore)
        if html_file:
            _write(html_file, render_diff(store, result))
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(render_diff_text(result.to_json(), result.run_a, result.run_b))
    if not result.identical:
        sys.exit(EXIT_FINDINGS)


def render_diff_text(data: dict, run_a: str, run_b: str) -> str:
    from lgaudit.history.normalize import summary

    head = f"a {run_a}\nb {run_b}"
    if data["identical"]:
        return f"{head}\nidentical"
    fd = data["first_divergence"]
    lines = [
        head,
        f"first divergence: step {fd['step']}, node {fd['node']}, {fd['kind']} at {fd['path']}",
        f"  a: {summary(fd['a'], 100)}",
        f"  b: {summary(fd['b'], 100)}",
    ]
    for s in data["steps"]:
        if s["status"] == "same":
            continue
        lines.append(
            f"step {s['step']}{' ' + s['namespace'] if s['namespace'] else ''} "
            f"[{s['status']}] tokens {s['tokens']['a']} -> {s['tokens']['b']}"
        )
        for d in s["differences"]:
            lines.append(
                f"  {d['kind']:<8} {d['node'] or '-'} {d['path']}: "
                f"{summary(d['a'], 50)} -> {summary(d['b'], 50)}"
            )
    return "\n".join(lines)


@cli.command("audit")
@click.argument("runs", nargs=-1)
@click.option("--thread", "thread_id", metavar="T", help="Audit every run of this thread.")
@click.option("--all", "all_runs", is_flag=True, help="Audit every recorded run.")
@click.option("--policy", "policy_file", metavar="FILE", help="Policy file (TOML).")
@click.option("--junit", "junit_file", metavar="FILE", help="Also write JUnit XML.")
@db_option
@json_option
@pass_context
def audit_cmd(
    obj: Context,
    runs: tuple[str, ...],
    thread_id: str | None,
    all_runs: bool,
    policy_file: str | None,
    junit_file: str | None,
    as_json: bool,
) -> None:
    """Check runs against the audit rules (and a policy).

    Exit codes: 0 no error finding, 1 error findings, 2 bad input (unknown run, malformed
    policy).
    """
    from lgaudit.audit import Policy, audit

    policy = Policy.load(policy_file) if policy_file else None
    with obj.open_store() as store:
        refs = list(runs)
        if thread_id is not None:
            found = store.runs(thread_id=thread_id, limit=None)
            if not found:
                raise BadInputError(f"no runs recorded on thread {thread_id!r}")
            refs += [r["run_id"] for r in reversed(found)]
        if all_runs:
            refs += [r["run_id"] for r in reversed(store.runs(limit=None))]
        report = audit(store, refs, policy)
    if junit_file:
        _write(junit_file, report.to_junit())
    if as_json:
        emit_json(report.to_json())
    elif not report.findings:
        verdict = "clean" if report.policy is not None else "no findings"
        click.echo(f"{verdict}: {len(report.runs)} run(s), rules: {', '.join(report.rules)}")
        click.echo(report.policy_note)
    else:
        for f in report.findings:
            click.echo(
                f"{f.severity.upper():<7} {f.rule:<26} run {f.run_id[:12]} step {f.step} "
                f"node {f.node or '-'}: {f.message}"
            )
        click.echo(f"{len(report.findings)} finding(s) in {len(report.runs)} run(s)")
        click.echo(report.policy_note)
    if report.failed:
        sys.exit(EXIT_FINDINGS)


@cli.command("blame")
@click.argument("run")
@click.argument("key")
@click.option(
    "--memory",
    "namespace",
    metavar="NAMESPACE",
    help="KEY is a long-term memory key of this namespace (labels joined by '.', e.g. "
    "bob.memories): its writes by any thread's runs up to RUN.",
)
@db_option
@json_option
@pass_context
def blame_cmd(obj: Context, run: str, key: str, namespace: str | None, as_json: bool) -> None:
    """Every write to a state KEY in RUN's thread up to RUN: run, step, node, task, value.

    Exit codes: 0 listed (no writes included), 2 bad input.
    """
    from lgaudit.audit import blame, blame_memory

    with obj.open_store() as store:
        if namespace is None:
            entries = blame(store, run, key)
        else:
            entries = blame_memory(store, run, namespace, key)
    if as_json:
        emit_json(entries)
        return
    if not entries:
        click.echo(f"no writes to {key!r}" + (f" in {namespace}" if namespace else ""))
    for e in entries:
        click.echo(
            f"run {e['run_id'][:12]} step {e['step']} {e['source']:<12} "
            f"{e['node'] or '-'} task {(e['task_id'] or '-')[:8]}: {e['summary']}"
        )


@cli.command("report")
@click.argument("run")
@click.option("--against", metavar="RUN2", help="Include the diff against this run.")
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    default=None,
    help="Write the page here (default: lgaudit-report-RUN.html).",
)
@click.option("--policy", "policy_file", metavar="FILE", help="Policy file for the findings.")
@db_option
@pass_context
def report_cmd(
    obj: Context, run: str, against: str | None, html_file: str | None, policy_file: str | None
) -> None:
    """Write a self-contained HTML report: timeline, findings and an optional diff.

    Exit codes: 0 written (its path is printed), 2 bad input.
    """
    from lgaudit.audit import Policy, render_report

    policy = Policy.load(policy_file) if policy_file else None
    with obj.open_store() as store:
        run_id = store.resolve_run(run)
        page = render_report(store, run_id, against=against, policy=policy)
    path = html_file or f"lgaudit-report-{run_id[:12]}.html"
    _write(path, page)
    click.echo(path)
