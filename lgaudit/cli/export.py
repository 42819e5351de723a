"""``lgaudit export``: recorded runs as JSON lines, as OTLP JSON, or posted to a collector."""

from __future__ import annotations

import json
import sys

import click

from lgaudit.cli._base import Context, cli, db_option, pass_context
from lgaudit.errors import BadInputError


@cli.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "otlp-json"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object per event and line; otlp-json: OpenTelemetry spans "
    "(GenAI conventions), one trace per run.",
)
@click.option("--out", "out", metavar="FILE", help="Write to FILE instead of stdout.")
@click.option(
    "--endpoint",
    metavar="URL",
    help="Post the spans to this OTLP/HTTP traces URL (e.g. http://localhost:6006/v1/traces) "
    "instead of writing them.",
)
@click.option(
    "--protocol",
    type=click.Choice(["http/protobuf", "http/json"]),
    default="http/protobuf",
    show_default=True,
    help="With --endpoint: the OTLP/HTTP encoding.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --endpoint: an HTTP header (repeatable), e.g. 'Authorization=Basic …'. "
    "$OTEL_EXPORTER_OTLP_HEADERS is read too.",
)
@db_option
@pass_context
def export(
    obj: Context,
    runs: tuple[str, ...],
    fmt: str,
    out: str | None,
    endpoint: str | None,
    protocol: str,
    headers: tuple[str, ...],
) -> None:
    """Export runs: their events as JSON lines (values expanded), or as OpenTelemetry spans.

    --format otlp-json writes one OTLP JSON ExportTraceServiceRequest: per run a trace
    (id: the run id) with `invoke_agent GRAPH` (`invoke_workflow GRAPH` for a run with
    no model call), a span per node execution, `chat MODEL` per model call and
    `execute_tool TOOL` per tool call, errors as span status, `lgaudit.run_id` and
    `lgaudit.event_seq` on every span. --endpoint URL posts the same spans to an OTLP/HTTP
    collector (Phoenix, Jaeger, Langfuse, LangSmith). Values are the store's, redacted.

    Exit codes: 0 exported, 2 bad input (unknown or ambiguous run, a collector that cannot
    be reached or refuses the spans).
    """
    if endpoint is not None and out is not None:
        raise BadInputError("give --out FILE or --endpoint URL, not both")
    if endpoint is None and (headers or protocol != "http/protobuf"):
        raise BadInputError("--header and --protocol go with --endpoint URL")
    sent_headers: dict[str, str] = {}
    for h in headers:
        name, sep, value = h.partition("=")
        if not sep or not name.strip():
            raise BadInputError(f"--header {h!r} is not NAME=VALUE")
        sent_headers[name.strip()] = value.strip()
    with obj.open_store() as store:
        if fmt == "jsonl" and endpoint is None:
            for ref in runs:  # every reference checked before anything is written
                store.resolve_run(ref)
            stream = open(out, "w", encoding="utf-8") if out else None  # noqa: SIM115
            try:
                for ref in runs:
                    for event in store.expanded_events(ref):  # each line as it is read
                        line = json.dumps(event, default=str, ensure_ascii=False)
                        click.echo(line, file=stream)
            finally:
                if stream is not None:
                    stream.close()
            return
        from lgaudit.interop.otlp import export_runs, to_json

        request = export_runs(store, runs)
    if endpoint is not None:
        from lgaudit.interop.send import post

        count = post(request, endpoint, protocol=protocol, headers=sent_headers)
        click.echo(f"sent {count} spans of {len(runs)} run(s) to {endpoint}", err=True)
        return
    text = json.dumps(to_json(request), ensure_ascii=False)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        click.echo(f"wrote {len(runs)} trace(s) to {out}", err=True)
    else:
        sys.stdout.write(text + "\n")
