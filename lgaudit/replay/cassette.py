"""The cassette: a recorded run's model, tool and memory-read results, keyed so they survive forks.

LangGraph gives a forked or replayed task a new task id (LangGraph issue 8458), so calls are
never keyed by task id. A call's key is the task's identity — for it and each enclosing
subgraph task: node name, step and task path (``__pregel_pull/node`` or
``__pregel_push/<index>`` for ``Send``) and the task's attempt — plus a call counter (model
calls), or the tool name, a hash of its arguments and an occurrence counter (tool calls),
or a hash of the operation and its arguments and an occurrence counter (long-term memory
reads: ``get``, ``search``, ``list_namespaces``). A
retry the recorded run did not make (a replay injected a fault) repeats the calls of the last
recorded attempt. A hash of the
request is kept as a consistency check: a model call whose messages differ from the recorded
ones is a miss.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lgaudit.codec.serialization import to_jsonable
from lgaudit.events.memory_ops import read_signature
from lgaudit.log.chain import canonical_json
from lgaudit.store import Store
from lgaudit.store.records import EventRecord
from lgaudit.store.views import EventExpander

TaskKey = tuple[tuple[str, int | None, str], ...]

#: Version of how calls are keyed; a cassette of another version is refused.
CASSETTE_FORMAT = 1


@dataclass(frozen=True)
class TaskRef:
    node: str
    step: int | None
    path: str


def task_key(
    checkpoint_ns: str | None, own: TaskRef, lookup: Callable[[str], TaskRef | None]
) -> TaskKey:
    """The fork-stable identity of a task: its enclosing subgraph tasks, then itself."""
    parts: list[tuple[str, int | None, str]] = []
    for segment in (checkpoint_ns or "").split("|"):
        if not segment:
            continue
        name, _, task_id = segment.rpartition(":")
        ref = lookup(task_id)
        parts.append((name, ref.step if ref else None, ref.path if ref else ""))
    parts.append((own.node, own.step, own.path))
    return tuple(parts)


def describe(key: TaskKey) -> str:
    return " > ".join(f"{node}@step{step}" for node, step, _ in key)


def request_hash(messages: Any) -> str:
    """Hash of a model request: message types, contents and tool calls (ids left out)."""
    if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], list):
        messages = messages[0]
    view = []
    for m in messages if isinstance(messages, list) else [messages]:
        d = to_jsonable(m)
        if isinstance(d, dict):
            calls = [(c.get("name"), c.get("args")) for c in d.get("tool_calls") or []]
            view.append([d.get("type"), d.get("content"), calls])
        else:
            view.append(d)
    return hashlib.sha256(canonical_json(view).encode()).hexdigest()[:16]


def args_hash(args: Any) -> str:
    return hashlib.sha256(canonical_json(to_jsonable(args)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RecordedCall:
    """One recorded model or tool call and what it returned (or raised)."""

    label: str
    request: str
    result_ref: str | None
    result: Any
    error: dict[str, Any] | None
    #: a tool call's long-term memory operations (payloads), made again when it is served
    memory: tuple[dict[str, Any], ...] = ()


class Cassette:
    """The calls of one recorded run, indexed by fork-stable keys."""

    def __init__(self, store: Store, run_id: str, events: list[EventRecord] | None = None) -> None:
        """``events``: the run's events, when the caller has read them already."""
        self.store = store
        self.llm: dict[tuple[TaskKey, int, int], RecordedCall] = {}
        self.tools: dict[tuple[TaskKey, int, str, str, int], RecordedCall] = {}
        #: long-term memory reads: (task, attempt, read signature, occurrence)
        self.memory: dict[tuple[TaskKey, int, str, int], RecordedCall] = {}
        #: every recorded ``memory_read`` and ``memory_write`` payload, in order
        self.memory_ops: list[dict[str, Any]] = []
        self._attempts: dict[TaskKey, list[int]] = defaultdict(list)
        self._load(events if events is not None else store.events(run_id))

    def attempt(self, key: TaskKey, attempt: int) -> int:
        """The recorded attempt of a task whose calls answer its ``attempt``: the same one,
        else the last recorded before it (a retry the recorded run did not need, because a
        replay injected a fault, makes the calls of the attempt it repeats)."""
        recorded = [a for a in self._attempts.get(key, ()) if a <= attempt]
        return max(recorded) if recorded else attempt

    def _load(self, events: list[EventRecord]) -> None:
        expander = EventExpander(self.store)
        tasks: dict[str, TaskRef] = {}
        attempt: dict[str, int] = {}
        calls: dict[tuple[str, int], dict[str, list[EventRecord]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for e in events:
            tid = e["task_id"]
            if e["kind"] in ("memory_read", "memory_write"):
                self.memory_ops.append(e["payload"])
                if tid and tid not in tasks:  # a task with no node events (a functional @task):
                    # known by its node and step, as a replay's interceptor knows it
                    tasks[tid] = TaskRef(e["node"] or "", e["step"], "")
                    attempt[tid] = 1
            if e["kind"] == "node_start" and tid:
                path = "/".join(e["payload"].get("path") or [])
                tasks[tid] = TaskRef(e["node"] or "", e["step"], path)
                attempt[tid] = int(e["payload"].get("attempt") or 1)
                continue
            if not tid or tid not in tasks:
                continue
            group = {
                "llm_start": "llm_start",
                "llm_end": "llm_end",
                "llm_error": "llm_end",
                "tool_start": "tool_start",
                "tool_end": "tool_end",
                "tool_error": "tool_end",
                "memory_read": "memory",
                "memory_write": "memory",
            }.get(e["kind"])
            if group:
                calls[(tid, attempt[tid])][group].append(e)
        for (tid, n_attempt), found in calls.items():
            starts = found["llm_start"] or found["tool_start"] or found["memory"]
            key = task_key(starts[0]["checkpoint_ns"], tasks[tid], tasks.get)
            if n_attempt not in self._attempts[key]:
                self._attempts[key].append(n_attempt)
            ends = found["llm_end"]
            for i, start in enumerate(found["llm_start"]):
                end = ends[i] if i < len(ends) else None
                self.llm[(key, n_attempt, i)] = self._recorded(
                    f"model {start['payload'].get('model')!r} call #{i + 1} in {describe(key)}",
                    request_hash(expander.refs(start["payload"].get("messages"))),
                    end,
                    "generations",
                )
            ends = found["tool_end"]
            seen: dict[tuple[str, str], int] = defaultdict(int)
            windows: list[tuple[int, float, tuple[TaskKey, int, str, str, int]]] = []
            for i, start in enumerate(found["tool_start"]):
                p = start["payload"]
                tool, h = str(p.get("tool")), args_hash(_tool_args(p.get("input")))
                n = seen[(tool, h)]
                seen[(tool, h)] += 1
                end = _matching_end(ends, p.get("tool_call_id"), i)
                self.tools[(key, n_attempt, tool, h, n)] = self._recorded(
                    f"tool {tool!r} call #{n + 1} in {describe(key)}", h, end, "output"
                )
                windows.append(
                    (start["seq"], end["seq"] if end else math.inf, (key, n_attempt, tool, h, n))
                )
            self._tool_memory(windows, found["memory"])
            reads: dict[str, int] = defaultdict(int)
            for read in (e for e in found["memory"] if e["kind"] == "memory_read"):
                h = read_signature(read["payload"])
                n = reads[h]
                reads[h] += 1
                label = f"{memory_label(read['payload'])} #{n + 1} in {describe(key)}"
                error = read["payload"].get("error")
                self.memory[(key, n_attempt, h, n)] = (
                    RecordedCall(label, h, None, None, error)
                    if error is not None
                    else self._recorded(label, h, read, "result")
                )

    def _tool_memory(
        self,
        windows: list[tuple[int, float, tuple[TaskKey, int, str, str, int]]],
        memory: list[EventRecord],
    ) -> None:
        """Give each tool call the memory operations made while it ran (the latest-started
        call running at the time): a served tool makes them again."""
        made: dict[tuple[TaskKey, int, str, str, int], list[dict[str, Any]]] = defaultdict(list)
        for e in memory:
            running = [w for w in windows if w[0] < e["seq"] < w[1]]
            if running:
                made[max(running)[2]].append(e["payload"])
        for key, payloads in made.items():
            self.tools[key] = replace(self.tools[key], memory=tuple(payloads))

    def _recorded(
        self, label: str, request: str, end: EventRecord | None, field: str
    ) -> RecordedCall:
        if end is None:
            return RecordedCall(
                label,
                request,
                None,
                None,
                {"type": "Incomplete", "message": "the recorded call never finished"},
            )
        if end["kind"].endswith("_error"):
            return RecordedCall(label, request, None, None, end["payload"].get("error"))
        value = end["payload"].get(field)
        ref = value.get("$ref") if isinstance(value, dict) and set(value) == {"$ref"} else None
        return RecordedCall(label, request, ref, None if ref else value, None)

    def value(self, call: RecordedCall) -> Any:
        """The recorded result as objects (messages revived by the safe serializer)."""
        return self.store.load_value(call.result_ref) if call.result_ref else call.result

    def stored(self, value: Any) -> Any:
        """A payload value as objects: loaded when stored by reference (``{"$ref": h}``)."""
        if isinstance(value, dict) and set(value) == {"$ref"}:
            return self.store.load_value(value["$ref"])
        return value

    def nearest_llm(self, key: TaskKey, index: int) -> str | None:
        same_node = [k for k in self.llm if k[0][-1][0] == key[-1][0]]
        if not same_node:
            return next((c.label for c in self.llm.values()), None)
        best = min(
            same_node,
            key=lambda k: (abs((k[0][-1][1] or 0) - (key[-1][1] or 0)), abs(k[2] - index)),
        )
        return self.llm[best].label

    def nearest_memory(self, key: TaskKey) -> str | None:
        same = [k for k in self.memory if k[0][-1][0] == key[-1][0]] or list(self.memory)
        if not same:
            return None
        best = min(same, key=lambda k: abs((k[0][-1][1] or 0) - (key[-1][1] or 0)))
        return self.memory[best].label

    def nearest_tool(self, key: TaskKey, tool: str) -> str | None:
        same = [k for k in self.tools if k[2] == tool] or list(self.tools)
        if not same:
            return None
        best = min(same, key=lambda k: abs((k[0][-1][1] or 0) - (key[-1][1] or 0)))
        return self.tools[best].label


def memory_label(request: dict[str, Any]) -> str:
    """A memory read as a miss names it: ``memory search ('memories', 'bob')``."""
    key = f" key {request['key']!r}" if request.get("key") is not None else ""
    return f"memory {request.get('op')} {tuple(request.get('namespace') or ())!r}{key}"


def _tool_args(value: Any) -> Any:
    if isinstance(value, dict) and "args" in value and "name" in value:
        return value["args"]
    return value


def _matching_end(ends: list[EventRecord], call_id: Any, index: int) -> EventRecord | None:
    if call_id:
        for e in ends:
            if e["payload"].get("tool_call_id") == call_id:
                return e
    return ends[index] if index < len(ends) else None
