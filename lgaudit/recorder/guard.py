"""The live guard: a policy's budget and rate limits enforced while a run executes
(``Recorder(..., guard=POLICY)``).

``GuardCallback`` sits among the run's callback handlers, after the kill check
(``lgaudit.recorder.killswitch``) and before the recording handler, and raises
``GuardTripped`` from the start of the next node task, model call or tool call past a
limit — inside the graph, so retry policies, fallbacks and ``handle_tool_errors`` see it
— after recording a ``guard`` event naming the rule and the figures. The counters live in
the recorder (no store round trip on the hot path).

Limits, as the audit counts them: ``max_steps`` distinct root steps, ``max_node_repeats``
executions of one node (tasks of one step, a ``Send`` fan-out, count once),
``max_llm_calls``/``max_tool_calls`` calls, ``max_tokens`` tokens used so far,
``max_cost_usd`` USD so far at the policy's ``prices``; ``[rate]`` calls in the last 60 s
of the run's thread.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from lgaudit.audit.policy import Policy
from lgaudit.errors import GuardTripped
from lgaudit.events.payloads import model_name, task_context, token_usage

if TYPE_CHECKING:
    from lgaudit.recorder.host import Host as Recorder
    from lgaudit.store import NewRun

_RATE_WINDOW_S = 60.0


def load_guard_policy(policy: Policy | str | Path | Mapping[str, Any]) -> Policy:
    """The policy a guard enforces: a ``Policy``, a policy file path, or its TOML as a dict."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str | Path):
        return Policy.load(policy)
    return Policy.from_dict(dict(policy), source="guard")


@dataclass
class _RunCount:
    steps: set[int] = field(default_factory=set)
    repeats: Counter[str] = field(default_factory=Counter)
    ran: set[tuple[str, Any, Any]] = field(default_factory=set)
    llm_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    unpriced: set[str] = field(default_factory=set)  # models called that have no price


class GuardCallback(BaseCallbackHandler):
    """Counts a guarded recorder's runs and stops them at the first call past a limit."""

    raise_error = True  # the trip must reach the graph, not be logged by LangChain
    run_inline = True

    def __init__(self, recorder: Recorder, policy: Policy) -> None:
        self.recorder = recorder
        self.policy = policy
        self.budget = policy.budget
        self.rate = policy.rate
        self._counts: dict[str, _RunCount] = defaultdict(_RunCount)
        self._calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._llm: dict[UUID, tuple[str, str]] = {}  # model call -> (run, model name)
        self._lock = threading.Lock()

    # -- the checks, at the start of each node task, model call and tool call ------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        md = metadata or {}
        run = self._run(md, run_id, kwargs.get("parent_run_id"))
        if run is None:
            return
        if str(run_id) == run.run_id:
            return  # the run itself, not a node or @task call starting
        name = kwargs.get("name")
        if not self.recorder.callback.is_task(run_id, name, tags, md):
            return  # a chain inside a task, not a node or @task call starting
        step, ns = md.get("langgraph_step"), md.get("langgraph_checkpoint_ns") or ""
        count = self._counts[run.run_id]
        with self._lock:
            if "|" not in ns and ":" in ns and isinstance(step, int):  # a root task
                count.steps.add(step)
            where = (str(name), step, ns.rpartition("|")[0])
            first = where not in count.ran
            count.ran.add(where)
            if first:
                count.repeats[str(name)] += 1
        steps, repeats = len(count.steps), count.repeats[str(name)]
        self._over(
            run, md, "budget.steps", "max_steps", steps, f"step {step} is the run's {steps}th"
        )
        self._over(
            run,
            md,
            "loop.node_repeats",
            "max_node_repeats",
            repeats,
            f"node {name} would run {repeats} times",
        )

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._model_start(serialized, run_id, kwargs)

    def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._model_start(serialized, run_id, kwargs)

    def _model_start(self, serialized: Any, run_id: UUID, kwargs: dict[str, Any]) -> None:
        md = kwargs.get("metadata") or {}
        run = self._run(md)
        if run is None:
            return
        model = model_name(
            serialized, dict(kwargs.get("invocation_params") or {}), md, kwargs.get("name")
        )
        count = self._counts[run.run_id]
        with self._lock:
            count.llm_calls += 1
            self._llm[run_id] = (run.run_id, model)
        calls = count.llm_calls
        self._over(
            run, md, "budget.llm_calls", "max_llm_calls", calls, f"model call {calls} ({model})"
        )
        self._over(
            run,
            md,
            "budget.tokens",
            "max_tokens",
            count.tokens,
            f"model call {calls} ({model}) refused: the run used {count.tokens} tokens",
        )
        max_cost = self.policy.max_cost_usd
        if max_cost is not None and count.unpriced:  # unknown cost is never counted as free
            self._trip(
                run,
                md,
                "budget.cost",
                max_cost,
                None,
                f"the run's cost is unknown: {', '.join(sorted(count.unpriced))} has no price "
                f"in the policy; model call {count.llm_calls} ({model}) refused",
            )
        if max_cost is not None and count.cost > max_cost:
            self._trip(
                run,
                md,
                "budget.cost",
                max_cost,
                round(count.cost, 6),
                f"the run cost ${count.cost:.4f}, more than max_cost_usd = {max_cost}; "
                f"model call {count.llm_calls} ({model}) refused",
            )
        self._check_rate(run, md, "llm", "max_llm_calls_per_minute", f"model {model}")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            owner = self._llm.pop(run_id, None)
        if owner is None:
            return
        usage = token_usage(response)
        count = self._counts[owner[0]]
        with self._lock:
            count.tokens += usage["total_tokens"]
            price = self.policy.prices.get(owner[1])
            if price is not None:
                count.cost += price.cost(usage["input_tokens"], usage["output_tokens"])
            else:
                count.unpriced.add(owner[1])

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._llm.pop(run_id, None)

    def on_tool_start(
        self, serialized: Any, input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        md = kwargs.get("metadata") or {}
        run = self._run(md)
        if run is None:
            return
        tool = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        count = self._counts[run.run_id]
        with self._lock:
            count.tool_calls += 1
        self._over(
            run,
            md,
            "budget.tool_calls",
            "max_tool_calls",
            count.tool_calls,
            f"tool call {count.tool_calls} ({tool})",
        )
        self._check_rate(run, md, "tool", "max_tool_calls_per_minute", f"tool {tool}")

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._forget(str(run_id))  # the run ended: forget its counters

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._forget(str(run_id))

    def _forget(self, run_id: str) -> None:
        if self._counts.pop(run_id, None) is None or not self._calls:
            return
        now = time.monotonic()  # and the rate windows of threads quiet for a whole window
        with self._lock:
            for key in [k for k, c in self._calls.items() if not c or now - c[-1] > _RATE_WINDOW_S]:
                del self._calls[key]

    def bookkeeping(self) -> dict[str, int]:
        """Sizes of what the guard remembers (rate windows: threads called in the last 60 s)."""
        return {"guard.counts": len(self._counts), "guard.llm": len(self._llm),
                "guard.rate_windows": len(self._calls)}  # fmt: skip

    # -- helpers ----------------------------------------------------------------------

    def _run(
        self, md: Mapping[str, Any], run_id: Any = None, parent_run_id: Any = None
    ) -> NewRun | None:
        return self.recorder.runs.in_progress(md, run_id, parent_run_id)

    def _over(
        self, run: NewRun, md: Mapping[str, Any], rule: str, key: str, value: int, what: str
    ) -> None:
        """Trip when ``value`` is past the policy's ``[budget] key``."""
        limit = self.budget.get(key)
        if limit is not None and value > limit:
            self._trip(run, md, rule, limit, value, f"{what}: more than {key} = {limit}")

    def _check_rate(
        self, run: NewRun, md: Mapping[str, Any], kind: str, key: str, what: str
    ) -> None:
        limit = self.rate.get(key)
        if limit is None:
            return
        now = time.monotonic()
        with self._lock:
            calls = self._calls[(run.thread_id or run.run_id, kind)]
            while calls and now - calls[0] > _RATE_WINDOW_S:
                calls.popleft()
            calls.append(now)
            n = len(calls)
        if n > limit:
            rule = "rate.llm_calls" if kind == "llm" else "rate.tool_calls"
            self._trip(
                run,
                md,
                rule,
                limit,
                n,
                f"{what} would be call {n} of thread {run.thread_id} within 60 s, "
                f"more than {key} = {limit}",
            )

    def _trip(
        self,
        run: NewRun,
        md: Mapping[str, Any],
        rule: str,
        limit: float | None,
        value: float | None,
        message: str,
    ) -> None:
        payload = {"rule": rule, "limit": limit, "value": value, "message": message}
        ctx = {k: v for k, v in task_context(dict(md)).items() if k != "thread_id"}
        self.recorder.record(run, "guard", payload, **ctx)
        raise GuardTripped(rule, message, limit=limit, value=value)
