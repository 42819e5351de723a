"""A stage's reports: JUnit XML and a self-contained HTML page (the text is ``stage.text``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from typing import Any

from lgaudit.audit.report import _CSS, _diff, policy_html
from lgaudit.history.normalize import summary
from lgaudit.stage.staging import StageCase, StageResult
from lgaudit.stage.words import divergence

_BAD = ("changed", "failed", "timeout", "broken")


def _order(result: StageResult) -> list[StageCase]:
    """Failing and changed cases first, then the rest in run order."""
    return sorted(result.cases, key=lambda c: c.outcome not in _BAD)


def _divergence(c: StageCase) -> str:
    fd = c.first_divergence
    return divergence(fd) if fd is not None else c.detail or f"status {c.status}"


def render_junit(result: StageResult) -> str:
    """One testcase per case and per check; a changed or failed case and a failing
    required check are failures."""
    root = ET.Element("testsuites", name=f"lgaudit stage {result.suite}")
    cases = ET.SubElement(root, "testsuite", name="cases", tests=str(len(result.cases)))
    failures = 0
    props = ET.SubElement(cases, "properties")
    for name, value in _figures(result):
        ET.SubElement(props, "property", name=name, value=str(value))
    for c in result.cases:
        tc = ET.SubElement(
            cases, "testcase", classname=f"stage.{c.kind}", name=c.case, time=f"{c.seconds:.3f}"
        )
        if c.outcome in _BAD:
            failures += 1
            ET.SubElement(tc, "failure", message=c.outcome, type=c.outcome).text = _divergence(c)
    cases.set("failures", str(failures))
    checks = ET.SubElement(root, "testsuite", name="checks", tests=str(len(result.checks)))
    failures = 0
    for ch in result.checks:
        tc = ET.SubElement(checks, "testcase", classname="stage.check", name=ch.name)
        if ch.ok:
            continue
        if ch.name in result.require:
            failures += 1
            ET.SubElement(tc, "failure", message=ch.detail, type="check").text = ch.detail
        else:
            ET.SubElement(tc, "skipped", message=f"not required: {ch.detail}")
    checks.set("failures", str(failures))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _figures(result: StageResult) -> list[tuple[str, Any]]:
    """The latency and load figures as flat ``(name, value)`` pairs (JUnit properties)."""
    out: list[tuple[str, Any]] = []
    latency = result.dimensions.get("latency") or {}
    for q, v in (latency.get("cases") or {}).items():
        out.append((f"latency.cases.{q}", v))
    for node, figs in (latency.get("nodes") or {}).items():
        out += [(f"latency.nodes.{node}.{k}", v) for k, v in figs.items()]
    for k, v in (result.dimensions.get("load") or {}).items():
        out.append((f"load.{k}", v))
    return out


def _e(value: Any) -> str:
    return escape(value if isinstance(value, str) else summary(value, 400), quote=True)


_STAGE_CSS = """
.verdict{font-size:1.6em;font-weight:700;padding:.3em .6em;display:inline-block;border-radius:4px}
.promote{background:#dafbe1;color:#1a7f37}.block{background:#ffebe9;color:#a40e26}
section.case{border:1px solid #d8dbe5;padding:.3em 1em;margin:1em 0;background:#fff}
tr.bad td{background:#fff4f4}
"""


def render_html(result: StageResult) -> str:
    """A self-contained page (inline CSS, no scripts, every value escaped): the verdict,
    the checks, the coverage, and every case — its first divergence and findings — with a
    link to its diff, rendered inline below."""
    ordered = _order(result)
    anchors = {id(c): f"case-{i}" for i, c in enumerate(ordered)}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>lgaudit stage {_e(result.suite)}: {_e(result.verdict)}</title>",
        f"<style>{_CSS}{_STAGE_CSS}</style></head><body>",
        f"<h1>lgaudit stage <code>{_e(result.suite)}</code></h1>",
        f'<p><span class="verdict {_e(result.verdict)}" id="verdict">'
        f"{_e(result.verdict.upper())}</span> candidate <code>{_e(result.graph)}</code></p>",
        *(
            [f'<p id="stage-id">stage result <code>{_e(result.stage_id)}</code></p>']
            if result.stage_id
            else []
        ),
        "<h2>Audit policy</h2>",
        policy_html(result.policy, ("approval", "budget", "state")),  # a suite's tables
        "<h2>Checks</h2>",
        _checks(result),
        "<h2>Coverage</h2>",
        _coverage(result.coverage),
        _dimensions(result),
        f"<h2>Cases ({len(result.cases)})</h2>",
        _cases_table(ordered, anchors),
    ]
    for c in ordered:
        parts.append(_case_section(c, anchors[id(c)]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _checks(result: StageResult) -> str:
    rows = []
    for c in result.checks:
        required = c.name in result.require
        state = "ok" if c.ok else ("FAIL" if required else "fail (not required)")
        cls = "ok" if c.ok else "bad"
        rows.append(
            f'<tr class="{"" if c.ok else "bad"}"><td>{_e(c.name)}</td>'
            f'<td class="{cls}">{_e(state)}</td><td>{_e(c.detail)}</td></tr>'
        )
    head = "<tr><th>check</th><th>result</th><th>detail</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _dimensions(result: StageResult) -> str:
    """Latency per case and node, and the load's figures."""
    latency = result.dimensions.get("latency") or {}
    cases = latency.get("cases") or {}
    rows = "".join(
        f"<tr><td>{_e(node)}</td><td>{_s(f.get('p50'))}</td><td>{_s(f.get('p95'))}</td>"
        f"<td>{f.get('n')}</td></tr>"
        for node, f in (latency.get("nodes") or {}).items()
    )
    out = [
        '<h2 id="latency">Latency</h2>',
        f"<p>cases: p50 {_s(cases.get('p50'))}, p95 {_s(cases.get('p95'))}</p>",
        '<table id="latency-nodes"><tr><th>node</th><th>p50</th><th>p95</th><th>calls</th></tr>'
        f"{rows}</table>",
    ]
    load = result.dimensions.get("load")
    if load:
        cells = "".join(f"<tr><td>{_e(k)}</td><td>{_e(str(v))}</td></tr>" for k, v in load.items())
        out += ['<h2 id="load">Load</h2>', f"<table>{cells}</table>"]
    return "\n".join(out)


def _s(seconds: Any) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def _coverage(cover: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for kind, items in cover.items():
        cells = ", ".join(
            f'{_e(i["name"])} <span class="{"ok" if i["faulted"] else "bad"}">'
            f"({'faulted' if i['faulted'] else 'not faulted'})</span>"
            for i in items
        )
        rows.append(f"<tr><td>{_e(kind)}</td><td>{cells or '-'}</td></tr>")
    return f"<table><tr><th>seen</th><th>items</th></tr>{''.join(rows)}</table>"


def _cases_table(cases: list[StageCase], anchors: dict[int, str]) -> str:
    rows = []
    for c in cases:
        bad = c.outcome in _BAD
        cost = "-" if c.cost_usd is None else f"${c.cost_usd:.4f}"
        rows.append(
            f'<tr class="{"bad" if bad else ""}"><td><a href="#{_link(c, anchors)}">'
            f"{_e(c.case)}</a></td><td>{_e(c.kind)}</td><td>{_e(c.status)}</td>"
            f'<td class="{"bad" if bad else "ok"}">{_e(c.outcome)}</td>'
            f"<td>{_e(_divergence(c) if bad or c.first_divergence else '')}</td>"
            f"<td>{len(c.findings)}</td><td>{c.tokens}</td><td>{cost}</td>"
            f"<td>{_s(c.seconds)}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("case", "kind", "status", "outcome", "first divergence", "findings", "tokens")
    )
    return f"<table><tr>{head}<th>cost</th><th>seconds</th></tr>{''.join(rows)}</table>"


def _link(c: StageCase, anchors: dict[int, str]) -> str:
    return anchors[id(c)] + ("-diff" if c.diff is not None else "")


def _case_section(c: StageCase, anchor: str) -> str:
    out = [
        f'<section class="case" id="{anchor}"><h3>{_e(c.case)} '
        f'<span class="{"bad" if c.outcome in _BAD else "ok"}">{_e(c.outcome)}</span></h3>',
        f"<p>{_e(c.kind)} case, run <code>{_e(str(c.run_id))}</code>"
        + (f" replaying <code>{_e(c.source_run_id)}</code>" if c.source_run_id else "")
        + f", status {_e(c.status)}</p>",
    ]
    if c.detail:
        out.append(f"<p>{_e(c.detail)}</p>")
    if c.noise:
        noise, runs = _e(", ".join(c.noise)), _e(", ".join(r[:12] for r in c.baseline_runs))
        out.append(f"<p>noise (differs between baseline runs {runs}): <code>{noise}</code></p>")
    if c.findings:
        items = "".join(
            f'<li><span class="bad">{_e(f.rule)}</span> {_e(f.message)}</li>' for f in c.findings
        )
        out.append(f"<p>Findings:</p><ul>{items}</ul>")
    if c.diff is not None and c.source_run_id and c.run_id:
        out.append(f'<div class="diff" id="{anchor}-diff">')
        out.append(_diff(c.diff, c.source_run_id, c.run_id))
        out.append("</div>")
    out.append("</section>")
    return "".join(out)
