"""``render_report``: one self-contained HTML page for a run (inline CSS, no scripts, no
network assets, every recorded value HTML-escaped): the timeline by step, the findings,
and optionally the diff against another run."""

from __future__ import annotations

from html import escape
from typing import Any

from lgaudit.audit.audit import audit
from lgaudit.audit.diff import RunDiff, diff
from lgaudit.audit.memory import describe_memory, memory_data
from lgaudit.audit.policy import AUDIT_TABLES, NO_POLICY_RULES, Policy
from lgaudit.history.normalize import summary
from lgaudit.history.steps import StepView, run_steps
from lgaudit.history.trace import TraceLoader
from lgaudit.store import RunRecord, Store

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d2330;background:#fbfbfd}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #d8dbe5;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef0f6}code{font:12px ui-monospace,monospace;word-break:break-word}
.meta td:first-child{font-weight:600;width:10em}.bad{color:#a40e26;font-weight:600}
.ok{color:#1a7f37;font-weight:600}tr.different td{background:#fff4f4}
ul{margin:0;padding-left:1.1em}
.warn{background:#fff8e1;border-left:4px solid #d4a017;padding:.4em .7em;color:#5c4300}
.policy{background:#f1f8ff;border-left:4px solid #4a7fc1;padding:.4em .7em}
.none{color:#5c4300;font-weight:600}
"""


def render_report(
    store: Store, run: str, *, against: str | None = None, policy: Policy | None = None
) -> str:
    """The HTML page for ``run`` (and its diff against ``against``, if given)."""
    loader = TraceLoader(store)
    record, trace = loader.run_in_thread(run)
    steps = run_steps(trace, record["run_id"])
    report = audit(store, [record["run_id"]], policy)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>lgaudit report {_e(record['run_id'])}</title><style>{_CSS}</style></head>",
        f"<body><h1>lgaudit run <code>{_e(record['run_id'])}</code></h1>",
        _meta(record),
        "<h2>Timeline</h2>",
        _timeline(steps),
        f"<h2>Findings ({len(report.findings)})</h2>",
        policy_html(policy),
        _findings(report.findings, policy),
    ]
    if against is not None:
        parts += [
            "<h2>Diff</h2>",
            _diff(  # this page's run is ``a``, the run it is compared against ``b``
                diff(store, record["run_id"], against).to_json(),
                record["run_id"],
                store.resolve_run(against),
            ),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(value: Any) -> str:
    return escape(value if isinstance(value, str) else summary(value, 400), quote=True)


def _meta(r: RunRecord) -> str:
    rows = [
        ("thread", r["thread_id"]),
        ("graph", r["graph"]),
        ("status", r["status"]),
        ("started", r["started_at"]),
        ("ended", r["ended_at"]),
        ("events", r["event_count"]),
        ("tokens", r["tokens"]),
        ("environment", r["environment"]),
        ("replay of", r["parent_run_id"]),
    ]
    body = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(str(v))}</td></tr>" for k, v in rows if v is not None
    )
    return f'<table class="meta">{body}</table>'


def _timeline(steps: list[StepView]) -> str:
    rows = []
    for s in steps:
        items = []
        for t in s.tasks:
            lines = [
                f"<b>{_e(t.node)}</b>" + (f" ({t.attempts} attempts)" if t.attempts > 1 else "")
            ]
            for c in t.llm:
                usage = c.get("usage") or {}
                lines.append(
                    f"model {_e(str(c.get('model')))} · {usage.get('total_tokens', 0)} "
                    f"tokens → <code>{_e(c.get('output'))}</code>"
                )
            for c in t.tools:
                lines.append(
                    f"tool {_e(str(c.get('tool')))}(<code>{_e(c.get('input'))}</code>) → "
                    f"<code>{_e(c.get('error') or c.get('output'))}</code>"
                )
            lines += [
                f"memory {_e(describe_memory(op))} → <code>{_e(memory_data(op))}</code>"
                for op in t.memory
            ]
            lines += [f"interrupt: <code>{_e(v)}</code>" for v in t.interrupts]
            lines += [f"resumed with: <code>{_e(v)}</code>" for v in t.resumes]
            lines += [
                f'<span class="bad">error {_e(str(err.get("type")))}: '
                f"{_e(str(err.get('message')))}</span>"
                for err in t.errors
            ]
            items.append("<li>" + "<br>".join(lines) + "</li>")
        state = f"<code>{_e(s.state)}</code>" if s.state is not None else ""
        rows.append(
            f"<tr><td>{s.step}</td><td>{_e(s.namespace or '(root)')}</td>"
            f"<td><ul>{''.join(items)}</ul></td><td>{s.tokens}</td><td>{state}</td></tr>"
        )
    head = (
        "<tr><th>step</th><th>namespace</th><th>tasks</th><th>tokens</th><th>state after</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def policy_html(policy: Policy | None, tables: tuple[str, ...] = AUDIT_TABLES) -> str:
    """Which policy the findings below come from, table by table (and which of ``tables``,
    the ones its source could set, it leaves unset), or — in a warning — that none was
    applied and only the rules that need none ran."""
    applied = policy.tables() if policy is not None else {}
    if not applied:
        free = ", ".join(f"<code>{r}</code>" for r in NO_POLICY_RULES)
        what = (
            "No policy applied"
            if policy is None
            else f"Policy <code>{_e(policy.name)}</code> sets no rule"
        )
        return (
            f'<p class="warn" id="policy">{what}: only the rules that need none ran ({free}). '
            "No findings here is not a clean bill under a policy.</p>"
        )
    assert policy is not None
    items = "".join(f"<li><code>[{_e(t)}]</code> {_e(what)}</li>" for t, what in applied.items())
    unset = [t for t in tables if t not in applied]
    rest = f"<p>Not set: {', '.join(f'<code>[{t}]</code>' for t in unset)}.</p>" if unset else ""
    return (
        f'<div class="policy" id="policy"><p>Policy <code>{_e(policy.name)}</code> applied:</p>'
        f"<ul>{items}</ul>{rest}</div>"
    )


def _findings(findings: tuple[Any, ...], policy: Policy | None) -> str:
    if not findings:
        if policy is None or not policy.tables():
            return '<p class="none">No findings from the rules that ran.</p>'
        return '<p class="ok">No findings.</p>'
    head = "".join(
        f"<th>{h}</th>" for h in ("rule", "severity", "step", "node", "channel", "message")
    )
    head = f"<tr>{head}</tr>"
    rows = "".join(
        f'<tr><td class="bad">{_e(f.rule)}</td><td>{_e(f.severity)}</td><td>{_e(str(f.step))}</td>'
        f"<td>{_e(str(f.node))}</td><td>{_e(str(f.channel))}</td><td>{_e(f.message)}</td></tr>"
        for f in findings
    )
    return f"<table>{head}{rows}</table>"


def _diff(data: dict[str, Any], run_a: str, run_b: str) -> str:
    intro = f"<p>a = run <code>{_e(run_a)}</code>, b = run <code>{_e(run_b)}</code>: "
    if data["identical"]:
        return intro + '<span class="ok">identical</span>.</p>'
    fd = data["first_divergence"]
    out = [
        intro + f'<span class="bad">first divergence at step {_e(str(fd["step"]))}, node '
        f"{_e(str(fd['node']))} ({_e(fd['kind'])}) at <code>{_e(fd['path'])}</code></span>: "
        f"<code>{_e(fd['a'])}</code> → <code>{_e(fd['b'])}</code></p>"
    ]
    rows = []
    for s in data["steps"]:
        for d in s["differences"]:
            rows.append(
                f'<tr class="different"><td>{_e(str(s["step"]))}</td><td>{_e(d["kind"])}</td>'
                f"<td>{_e(str(d['node']))}</td><td><code>{_e(d['path'])}</code></td>"
                f"<td><code>{_e(d['a'])}</code></td><td><code>{_e(d['b'])}</code></td></tr>"
            )
    head = (
        "<tr><th>step</th><th>kind</th><th>node</th><th>path</th>"
        f"<th>a ({_e(run_a[:12])})</th><th>b ({_e(run_b[:12])})</th></tr>"
    )
    out.append(f"<table>{head}{''.join(rows)}</table>")
    return "".join(out)


def render_diff(store: Store, result: RunDiff) -> str:
    """A self-contained HTML page for a ``RunDiff``."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>lgaudit diff {_e(result.run_a)} {_e(result.run_b)}</title>",
            f"<style>{_CSS}</style>",
            f"</head><body><h1>lgaudit diff <code>{_e(result.run_a)}</code> → "
            f"<code>{_e(result.run_b)}</code></h1>",
            "<h2>Run A</h2>",
            _meta(store.run(result.run_a)),
            "<h2>Run B</h2>",
            _meta(store.run(result.run_b)),
            "<h2>Differences</h2>",
            _diff(result.to_json(), result.run_a, result.run_b),
            "</body></html>",
        ]
    )
