"""Exports of real graph runs as LangSmith and Langfuse hold them, made by their own SDKs.

LangSmith: LangChain's ``RunCollectorCallbackHandler`` in the schema LangChain's LangSmith
tracer uses (``original+chat``: a chat model's run holds its messages), each ``Run`` (the
``langsmith.RunTree`` schema LangSmith receives) serialized as the LangSmith client sends
it (``RunTree._get_dicts_safe`` with its parent and error, ``dumps_json``), one run per
line (parents before children, as an export lists them) or as a JSON array.

Langfuse: the same runs as ``langfuse.api.ObservationV2`` objects (the public API's
observation model), their values converted by Langfuse's own LangChain ``CallbackHandler``
(messages as role dicts, usage by ``_parse_usage``, the model parameters it keeps by
``_parse_model_parameters``) and serialized by its
``EventSerializer``, dumped as the API returns them (camelCase).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler


def collect(graph: Any, inputs: Any, config: dict[str, Any] | None = None) -> list[Any]:
    """Run the graph under LangChain's run collector; its runs, parents first."""
    collector = RunCollectorCallbackHandler(_schema_format="original+chat")
    config = {**(config or {}), "callbacks": [collector]}
    try:
        graph.invoke(inputs, config)
    except Exception:  # noqa: BLE001 - a failing run is exported too
        pass
    return [r for root in collector.traced_runs for r in _flat(root)]


def _flat(run: Any) -> Iterator[Any]:
    yield run
    for child in sorted(run.child_runs, key=lambda r: r.dotted_order):
        yield from _flat(child)


def write_langsmith(runs: list[Any], path: Path, *, array: bool = False) -> Path:
    from langsmith._internal._serde import dumps_json  # what the LangSmith client sends

    rows = [
        dumps_json(
            {**r._get_dicts_safe(), "parent_run_id": r.parent_run_id, "error": r.error}
        ).decode()
        for r in runs
    ]
    text = "[\n" + ",\n".join(rows) + "\n]\n" if array else "\n".join(rows) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _handler() -> Any:
    from langfuse import Langfuse
    from langfuse.langchain import CallbackHandler

    Langfuse(public_key="pk-lf-test", secret_key="sk-lf-test", host="http://127.0.0.1:9",
             tracing_enabled=False)  # fmt: skip
    return CallbackHandler(public_key="pk-lf-test")


def _json(value: Any) -> Any:
    from langfuse._utils.serializer import EventSerializer

    return json.loads(json.dumps(value, cls=EventSerializer))


def langfuse_observations(runs: list[Any]) -> list[Any]:
    """The runs as Langfuse's API models, as its LangChain integration records them."""
    from langfuse.api import ObservationV2

    handler = _handler()
    callback_module = sys.modules[type(handler).__module__]
    out = []
    for r in runs:
        metadata = dict(r.extra.get("metadata") or {})
        fields: dict[str, Any] = {
            "id": str(r.id),
            "trace_id": str(r.trace_id),
            "parent_observation_id": str(r.parent_run_id) if r.parent_run_id else None,
            "project_id": "test-project",
            "name": r.name,
            "start_time": r.start_time,
            "end_time": r.end_time or dt.datetime.now(dt.UTC),
            "metadata": _json(metadata),
        }
        if r.run_type in ("llm", "chat_model"):
            messages = [m for batch in r.inputs.get("messages", []) for m in batch]
            generation = r.outputs["generations"][-1][-1] if r.outputs else None
            response = LLMResult(
                generations=[[ChatGeneration(message=_message(generation["message"]))]]
            ) if generation else None  # fmt: skip
            fields.update(
                type="GENERATION",
                input=_json(handler._create_message_dicts([_message(m) for m in messages])),
                output=_json(handler._convert_message_to_dict(response.generations[0][0].message))
                if response
                else None,
                model=metadata.get("ls_model_name"),
                model_parameters=_json(
                    handler._parse_model_parameters(
                        {"invocation_params": r.extra.get("invocation_params") or {}}
                    )
                ),
                usage_details=callback_module._parse_usage(response) if response else None,
            )
        elif r.run_type == "tool":
            # the handler keeps on_tool_start's keyword arguments (the tool call id) as metadata
            metadata["tool_call_id"] = r.extra.get("tool_call_id")
            fields.update(
                type="TOOL",
                input=_json(r.inputs),
                output=_json(_tool_output(r)),
                metadata=_json(metadata),
            )
        else:
            fields.update(type="SPAN", input=_json(r.inputs), output=_json(r.outputs))
        if r.error:
            # _get_error_level_and_status_message: str(error), the message without its type
            last = r.error.strip().splitlines()[-1]
            fields.update(level="ERROR", status_message=last.split(": ", 1)[-1])
        out.append(ObservationV2(**fields))
    return out


def _message(value: Any) -> BaseMessage:
    from langchain_core.load import load

    return value if isinstance(value, BaseMessage) else load(value, allowed_objects="messages")


def _tool_output(run: Any) -> Any:
    out = (run.outputs or {}).get("output")
    return out


def write_langfuse(observations: list[Any], path: Path, *, jsonl: bool = True) -> Path:
    rows = [o.model_dump(mode="json", by_alias=True, exclude_none=True) for o in observations]
    if jsonl:
        text = "\n".join(json.dumps(row) for row in rows) + "\n"
    else:
        text = json.dumps({"data": rows, "meta": {"cursor": None}}, indent=2)
    path.write_text(text, encoding="utf-8")
    return path
