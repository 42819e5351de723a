"""``lgaudit export --format otlp-json`` and ``--endpoint``: recorded runs as OpenTelemetry
spans under the GenAI conventions, parsed back with the official protobuf definitions, and
posted to a real OTLP/HTTP receiver on localhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from google.protobuf import json_format
from interop_graphs import fragile_agent
from langchain_core.messages import HumanMessage
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from real_world_graphs import react_agent
from replay_graphs import AGENT_INPUT, subgraph_graph

from lgaudit import Recorder, Store
from lgaudit.cli import cli
from lgaudit.interop.otlp import from_json

ROOT = Path(__file__).resolve().parents[1]


def _record(url: str) -> dict[str, str]:
    """A ReAct agent, a graph with a subgraph and an agent whose tool fails: their run ids."""
    recorder = Recorder(url, environment="production")
    try:
        recorder.attach(react_agent()).invoke(AGENT_INPUT, {"configurable": {"thread_id": "t-r"}})
        recorder.attach(subgraph_graph()).invoke(
            {"log": []}, {"configurable": {"thread_id": "t-s"}}
        )
        recorder.attach(fragile_agent()).invoke(
            {"messages": [HumanMessage("Weather in Oslo?")]},
            {"configurable": {"thread_id": "t-e"}},
        )
    finally:
        recorder.close()
    with Store.open(url) as store:
        by_thread = {r["thread_id"]: r["run_id"] for r in store.runs()}
    return {"react": by_thread["t-r"], "subgraph": by_thread["t-s"], "error": by_thread["t-e"]}


def _attrs(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which) if which else None
    return out


def _spans(request: ExportTraceServiceRequest) -> dict[bytes, list[Span]]:
    by_trace: dict[bytes, list[Span]] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                by_trace.setdefault(span.trace_id, []).append(span)
    return by_trace


def _check_tree(spans: list[Span], events: list[dict[str, Any]], run: dict[str, Any]) -> None:
    """The spans of one run match its recorded nodes, model and tool calls one for one."""
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == 1
    root = roots[0]
    made_model_calls = any(e["kind"] == "llm_start" for e in events)
    operation = "invoke_agent" if made_model_calls else "invoke_workflow"
    assert root.name == f"{operation} {run['graph']}"
    ra = _attrs(root)
    assert ra["gen_ai.operation.name"] == operation
    assert ra["gen_ai.conversation.id"] == run["thread_id"]
    assert ra["lgaudit.run_id"] == run["run_id"]
    assert all(s.parent_span_id in by_id for s in spans if s is not root)  # one tree
    by_seq = {_attrs(s)["lgaudit.event_seq"]: s for s in spans}
    event_of = {e["seq"]: e for e in events}
    node_starts = [e for e in events if e["kind"] == "node_start"]
    llm_starts = [e for e in events if e["kind"] == "llm_start"]
    tool_starts = [e for e in events if e["kind"] == "tool_start"]
    assert len(spans) == 1 + len(node_starts) + len(llm_starts) + len(tool_starts)
    node_span_of_task: dict[str, Span] = {}
    for e in node_starts:
        span = by_seq[e["seq"]]
        assert span.name == e["node"] and _attrs(span)["langgraph.step"] == e["step"]
        assert span.start_time_unix_nano // 1000 % 1_000_000 == int(e["ts"][20:26] or 0)
        node_span_of_task[e["task_id"]] = span
        ns = e["checkpoint_ns"]
        if ns:  # inside the subgraph node that ran it
            parent_task = ns.split("|")[-1].split(":", 1)[1]
            assert (
                by_id[span.parent_span_id].name
                == event_of[_attrs(node_span_of_task[parent_task])["lgaudit.event_seq"]]["node"]
            )
            assert span.parent_span_id == node_span_of_task[parent_task].span_id
        else:
            assert span.parent_span_id == root.span_id
    ends = {e["seq"]: e for e in events if e["kind"] in ("llm_end", "tool_end", "tool_error")}
    for e in llm_starts:
        span = by_seq[e["seq"]]
        a = _attrs(span)
        assert span.name == f"chat {e['payload']['model']}" and span.kind == Span.SPAN_KIND_CLIENT
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.request.model"] == e["payload"]["model"]
        assert span.parent_span_id == node_span_of_task[e["task_id"]].span_id
    for e in tool_starts:
        span = by_seq[e["seq"]]
        a = _attrs(span)
        assert span.name == f"execute_tool {e['payload']['tool']}"
        assert a["gen_ai.tool.name"] == e["payload"]["tool"]
        assert json.loads(a["gen_ai.tool.call.arguments"]) == e["payload"]["input"]
        assert span.parent_span_id == node_span_of_task[e["task_id"]].span_id
    # steps: every checkpoint is a span event, of the run or of the subgraph node it is in
    marks = [ev for s in spans for ev in s.events if ev.name == "langgraph.checkpoint"]
    assert len(marks) == sum(e["kind"] == "checkpoint" for e in events)
    usage = [e["payload"]["usage"] for e in ends.values() if e["kind"] == "llm_end"]
    chats = [_attrs(s) for s in spans if s.name.startswith("chat ")]
    assert sum(a["gen_ai.usage.input_tokens"] for a in chats) == sum(
        u["input_tokens"] for u in usage
    )
    assert sum(a["gen_ai.usage.output_tokens"] for a in chats) == sum(
        u["output_tokens"] for u in usage
    )


def test_otlp_json_parses_and_matches_the_recorded_runs(db_url: str, tmp_path: Path) -> None:
    runs = _record(db_url)
    out = tmp_path / "spans.json"
    result = CliRunner().invoke(
        cli,
        ["export", *runs.values(), "--format", "otlp-json", "--out", str(out), "--db", db_url],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    # the official definitions read the file as it is (OTLP JSON's hex ids are base64 text)
    json_format.Parse(text, ExportTraceServiceRequest())
    request = from_json(text)  # ... and with the ids decoded as OTLP JSON says (hex)
    raw = json.loads(text)
    assert len(raw["resourceSpans"]) == 3
    traces = _spans(request)
    with Store.open(db_url) as store:
        for run_id in runs.values():
            trace_id = bytes.fromhex(run_id.replace("-", ""))  # the run id is the trace id
            assert trace_id in traces
            _check_tree(traces[trace_id], store.events(run_id), store.run(run_id))
    react = traces[bytes.fromhex(runs["react"].replace("-", ""))]
    assert sorted(s.name for s in react if s.name.startswith(("chat", "execute"))) == [
        "chat gpt-4o",
        "chat gpt-4o",
        "chat gpt-4o",
        "execute_tool lookup",
        "execute_tool lookup",
    ]
    nested = traces[bytes.fromhex(runs["subgraph"].replace("-", ""))]
    names = {s.span_id: s.name for s in nested}
    assert {names[s.parent_span_id] for s in nested if s.name.startswith("inner_")} == {"sub"}
    failing = traces[bytes.fromhex(runs["error"].replace("-", ""))]
    (broken,) = [s for s in failing if s.name == "execute_tool broken_lookup"]
    assert broken.status.code == Status.STATUS_CODE_ERROR
    assert "upstream down for Oslo" in broken.status.message
    assert _attrs(broken)["error.type"] == "ValueError"
    # exported twice: the same spans (collectors see the same ids, not a second trace)
    again = CliRunner().invoke(
        cli, ["export", runs["error"], "--format", "otlp-json", "--db", db_url]
    )
    assert again.exit_code == 0
    ids = {s.span_id for s in failing}
    assert {s.span_id for s in _spans(from_json(again.stdout))[broken.trace_id]} == ids


def test_a_failed_run_is_an_error_span(db_url: str) -> None:
    def explode(state: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the ledger is locked")

    from langgraph.graph import START, MessagesState, StateGraph

    builder = StateGraph(MessagesState)
    builder.add_node("post", explode)
    builder.add_edge(START, "post")
    recorder = Recorder(db_url)
    try:
        with pytest.raises(RuntimeError):
            recorder.attach(builder.compile(name="ledger")).invoke(
                {"messages": []}, {"configurable": {"thread_id": "x"}}
            )
    finally:
        recorder.close()
    with Store.open(db_url) as store:
        run_id = store.runs()[0]["run_id"]
    result = CliRunner().invoke(cli, ["export", run_id, "--format", "otlp-json", "--db", db_url])
    spans = next(iter(_spans(from_json(result.stdout)).values()))
    by_name = {s.name: s for s in spans}
    for name in ("invoke_workflow ledger", "post"):
        assert by_name[name].status.code == Status.STATUS_CODE_ERROR
        assert "the ledger is locked" in by_name[name].status.message


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP traces receiver: parses each body with opentelemetry-proto."""

    received: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        if self.headers["Content-Type"] == "application/x-protobuf":
            request = ExportTraceServiceRequest.FromString(body)
        else:
            request = from_json(body)
        self.received.append((self.headers["Content-Type"], dict(self.headers), request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_endpoint_posts_the_spans_to_an_otlp_receiver(
    db_url: str, receiver: tuple[str, list[Any]], protocol: str
) -> None:
    url, received = receiver
    runs = _record(db_url)
    result = CliRunner().invoke(
        cli,
        [
            "export",
            runs["react"],
            runs["error"],
            "--endpoint",
            url,  # no path: OTLP's /v1/traces
            "--protocol",
            protocol,
            "--header",
            "Authorization=Basic cGs6c2s=",
            "--db",
            db_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(received) == 1
    content_type, headers, request = received[0]
    expected_type = "application/x-protobuf" if protocol == "http/protobuf" else "application/json"
    assert content_type == expected_type
    assert headers["Authorization"] == "Basic cGs6c2s="
    traces = _spans(request)
    with Store.open(db_url) as store:
        for run_id in (runs["react"], runs["error"]):
            spans = traces[bytes.fromhex(run_id.replace("-", ""))]
            _check_tree(spans, store.events(run_id), store.run(run_id))
    assert f"sent {sum(len(s) for s in traces.values())} spans" in result.stderr


def test_bad_exports_exit_2(db_url: str, receiver: tuple[str, list[Any]]) -> None:
    url, received = receiver
    runs = _record(db_url)
    cases = [
        (["export", "nosuchrun", "--format", "otlp-json"], "unknown run"),
        (["export", runs["react"], "nosuchrun", "--format", "otlp-json"], "unknown run"),
        (["export", runs["react"], "--endpoint", "http://127.0.0.1:9/v1/traces"], "cannot reach"),
        (["export", runs["react"], "--endpoint", f"{url}/wrong/path"], "HTTP 404"),
        (["export", runs["react"], "--endpoint", "ftp://x"], "not an http(s) URL"),
        (["export", runs["react"], "--header", "A=b"], "go with --endpoint"),
    ]
    for args, said in cases:
        result = CliRunner().invoke(cli, [*args, "--db", db_url])
        assert result.exit_code == 2, (args, result.output)
        assert said in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert received == []


def test_redaction_carries_over(db_url: str) -> None:
    """Values are exported as the store holds them: what redaction masked stays masked."""
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    recorder = Recorder(db_url)
    try:
        recorder.attach(react_agent()).invoke(
            {"messages": [HumanMessage(f"Weather in Oslo? my key is {secret}")]},
            {"configurable": {"thread_id": "leaky"}},
        )
    finally:
        recorder.close()
    with Store.open(db_url) as store:
        run_id = store.runs()[0]["run_id"]
    result = CliRunner().invoke(cli, ["export", run_id, "--format", "otlp-json", "--db", db_url])
    assert result.exit_code == 0
    assert secret not in result.stdout and "my key is [REDACTED]" in result.stdout


def test_otlp_export_needs_neither_langgraph_nor_langchain(db_url: str, tmp_path: Path) -> None:
    """``export --format otlp-json`` loads opentelemetry-proto, not the graph libraries (a
    run whose values the store's decoder needs LangChain for loads it, as ``--format jsonl``
    does: the subgraph run's do not)."""
    runs = _record(db_url)
    probe = (
        "import sys; from lgaudit.cli import cli\ncode = 0\n"
        "try:\n    cli()\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, sorted(m for m in ('langgraph', 'langchain_core', 'sqlalchemy.orm')"
        " if m in sys.modules))"
    )
    out = tmp_path / "spans.json"
    args = ["lgaudit", "export", runs["subgraph"], "--format", "otlp-json", "--out", str(out)]
    env = {**os.environ, "LGAUDIT_DB": db_url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.argv = {args!r}\n{probe}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr[-2000:]
    assert len(_spans(from_json(out.read_text()))) == 1
