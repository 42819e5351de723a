"""The staging suite: a TOML file (SPEC "Staging"), validated strictly before anything runs.

Every mistake — malformed TOML, an unknown table or key, a value of the wrong type, a graph,
model, exception or simulated human that cannot be imported — is one ``BadInputError`` line
naming the file and the key (``suite.toml: traffic.limit must be ...``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgaudit.audit.policy import Policy, Price, cost_limits
from lgaudit.errors import BadInputError
from lgaudit.replay.spec import CassetteMode, FaultSpec, load_object, parse_fault
from lgaudit.stage import limits
from lgaudit.stage.limits import Latency, Load, Pending, Tools
from lgaudit.suitefile import read_suite

CHECKS = ("traffic", "scenarios", "faults", "oversight", "observability", "envelope", "audit")
"""The gate's checks, exactly as SPEC names them (the default ``[gate] require``)."""

MORE_CHECKS = ("latency", "load", "pending", "sandbox")
"""The checks of staging's other dimensions: a suite requires them by name in ``[gate]
require``; each is reported when required or when its table is given."""

STATUSES = ("succeeded", "failed", "interrupted")

_TABLES: dict[str, tuple[str, ...]] = {
    "suite": ("name", "graph", "baseline", "environment", "case_timeout_s"),
    "traffic": (
        "environment",
        "graph",
        "thread",
        "since",
        "status",
        "limit",
        "cassette",
        "ignore",
        "repeat_baseline",
    ),
    "scenario": ("name", "input", "humans", "inject", "models", "expect"),
    "faults": ("matrix", "exception"),
    "envelope": ("max_cost_usd", "max_total_cost_usd", "prices", *limits.ENVELOPE_KEYS),
    "gate": ("require", "max_regressions"),
    "tools": limits.TOOLS_KEYS,
    "load": limits.LOAD_KEYS,
    "pending": limits.PENDING_KEYS,
    "approval": (),  # the audit policy's tables: validated by ``Policy``
    "budget": (),
    "state": (),
}


@dataclass(frozen=True)
class Traffic:
    """``[traffic]``: which recorded runs are replayed on the candidate, and how."""

    environment: str | None = None
    graph: str | None = None
    thread: str | None = None
    since: str | None = None
    status: str | None = None
    limit: int = 200
    cassette: CassetteMode = CassetteMode.STRICT
    ignore: tuple[str, ...] = ()
    repeat_baseline: int = 0


@dataclass(frozen=True)
class Scenario:
    """``[[scenario]]``: a synthetic input run on the candidate with simulated humans."""

    name: str
    input: dict[str, Any]
    humans: tuple[Any, ...] | str = ()
    """Resume values answered in order, or ``module:attr`` of ``callable(value) -> resume``."""
    inject: tuple[FaultSpec, ...] = ()
    models: dict[str, str] = field(default_factory=dict)
    expect_status: str | None = None
    expect_state: dict[str, Any] | None = None


@dataclass(frozen=True)
class Suite:
    """A validated suite. ``policy`` holds the audit policy the suite carries: its
    ``[approval]``, ``[budget]`` and ``[state]`` tables, and ``[envelope]``'s
    ``max_cost_usd`` and ``prices`` as the policy's ``budget.cost``."""

    path: str
    name: str
    graph: str
    baseline: str | None = None
    environment: str = "staging"
    traffic: Traffic | None = None
    scenarios: tuple[Scenario, ...] = ()
    fault_matrix: bool = False
    fault_exception: str = "TimeoutError"
    max_total_cost_usd: float | None = None
    prices: dict[str, Price] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    require: tuple[str, ...] = CHECKS
    max_regressions: int = 0
    case_timeout_s: float | None = None
    tools: Tools | None = None
    latency: Latency = field(default_factory=Latency)
    load_plan: Load | None = None
    """``[load]`` (``load`` would hide ``Suite.load``)."""
    pending: Pending | None = None

    @classmethod
    def load(cls, path: str | Path, *, graph: str | None = None) -> Suite:
        """Read and validate a suite file; ``graph`` overrides ``[suite] graph``."""
        data = read_suite(path)
        return cls.from_dict(data, source=str(Path(path)), graph=graph)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, source: str = "suite", graph: str | None = None
    ) -> Suite:
        """Validate a parsed suite (the TOML document as a dict)."""
        v = _Validator(source)
        v.only(data, tuple(_TABLES), "")
        head = v.table(data, "suite")
        name = v.text(head, "name", "suite.", required=True)
        candidate = graph or v.text(head, "graph", "suite.", required=graph is None)
        scenarios = data.get("scenario", [])
        if not isinstance(scenarios, list):
            raise BadInputError(f"{source}: scenario must be an array of tables ([[scenario]])")
        faults = v.table(data, "faults")
        matrix = faults.get("matrix", False)
        if not isinstance(matrix, bool):
            raise BadInputError(f"{source}: faults.matrix must be true or false")
        exception = v.text(faults, "exception", "faults.") or "TimeoutError"
        _wrap(source, "faults.exception", lambda: parse_fault(f"probe:{exception}"))
        envelope = dict(v.table(data, "envelope"))
        latency = limits.latency(source, envelope)
        total = envelope.pop("max_total_cost_usd", None)
        if total is not None and (not _number(total) or total < 0):
            raise BadInputError(f"{source}: envelope.max_total_cost_usd must be a number >= 0")
        max_cost, prices = cost_limits(dict(envelope), source, "envelope.")
        if total is not None and not prices:
            raise BadInputError(f"{source}: envelope.max_total_cost_usd needs envelope.prices")
        policy_data: dict[str, Any] = {
            k: data[k] for k in ("approval", "budget", "state") if k in data
        }
        budget = dict(policy_data.get("budget") or {})
        if max_cost is not None or prices:
            budget.update(max_cost_usd=max_cost, prices=envelope.get("prices", {}))
            budget = {k: x for k, x in budget.items() if x is not None}
        if budget:
            policy_data["budget"] = budget
        policy = Policy.from_dict(policy_data, source=source)
        gate = v.table(data, "gate")
        require = v.names(gate, "require", "gate.", default=list(CHECKS))
        unknown = [r for r in require if r not in (*CHECKS, *MORE_CHECKS)]
        if unknown:
            raise BadInputError(
                f"{source}: gate.require names unknown check {unknown[0]!r} "
                f"(checks: {', '.join((*CHECKS, *MORE_CHECKS))})"
            )
        suite = cls(
            path=source,
            name=name or "",
            graph=candidate or "",
            baseline=v.text(head, "baseline", "suite."),
            environment=v.text(head, "environment", "suite.") or "staging",
            traffic=_traffic(v, data) if "traffic" in data else None,
            scenarios=tuple(_scenario(v, s, i) for i, s in enumerate(scenarios)),
            fault_matrix=matrix,
            fault_exception=exception,
            max_total_cost_usd=float(total) if total is not None else None,
            prices=prices,
            policy=policy,
            require=tuple(require),
            max_regressions=v.count(gate, "max_regressions", "gate.", default=0),
            case_timeout_s=limits.case_timeout(source, head),
            tools=limits.tools(source, data["tools"]) if "tools" in data else None,
            latency=latency,
            load_plan=limits.load(source, data["load"], [s.get("name") for s in scenarios])
            if "load" in data
            else None,
            pending=limits.pending(source, data["pending"]) if "pending" in data else None,
        )
        if not suite.traffic and not suite.scenarios and not suite.pending:
            raise BadInputError(
                f"{source}: no cases: give [traffic], [[scenario]] or [pending] tables"
            )
        return suite


def load_humans(suite: Suite, scenario: Scenario) -> Callable[[Any], Any] | None:
    """The callable simulated human of a scenario (``None`` for a list of answers)."""
    if not isinstance(scenario.humans, str):
        return None
    ref = scenario.humans
    human = _wrap(
        suite.path, f"scenario {scenario.name!r} humans", lambda: load_object(ref, what="human")
    )
    if not callable(human):
        raise BadInputError(
            f"{suite.path}: scenario {scenario.name!r} humans: {ref} is not callable"
        )
    return human  # type: ignore[no-any-return]


def load_answer(suite: Suite) -> Callable[[Any], Any]:
    """``[pending] answer``: a value given to every interrupt, or ``module:attr`` of a
    ``callable(interrupt_value) -> resume``."""
    assert suite.pending is not None
    answer = suite.pending.answer
    if isinstance(answer, str) and ":" in answer:
        try:
            fn = load_object(answer, what="answer")
        except BadInputError as e:
            raise BadInputError(f"{suite.path}: pending.answer: {e}") from None
        if not callable(fn):
            raise BadInputError(f"{suite.path}: pending.answer: {answer} is not callable")
        return fn  # type: ignore[no-any-return]
    return lambda _value: answer


def _traffic(v: _Validator, data: dict[str, Any]) -> Traffic:
    t = v.table(data, "traffic")
    since = v.text(t, "since", "traffic.")
    if since is not None:
        try:
            dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise BadInputError(
                f"{v.source}: traffic.since must be an ISO date (2026-01-31), not {since!r}"
            ) from None
    status = v.text(t, "status", "traffic.")
    if status is not None and status not in STATUSES:
        raise BadInputError(
            f"{v.source}: traffic.status must be one of {', '.join(STATUSES)}, not {status!r}"
        )
    cassette = v.text(t, "cassette", "traffic.") or "strict"
    mode = _wrap(v.source, "traffic.cassette", lambda: CassetteMode.parse(cassette))
    return Traffic(
        environment=v.text(t, "environment", "traffic."),
        graph=v.text(t, "graph", "traffic."),
        thread=v.text(t, "thread", "traffic."),
        since=since,
        status=status,
        limit=v.count(t, "limit", "traffic.", default=200, least=1),
        cassette=mode,
        ignore=tuple(v.names(t, "ignore", "traffic.", default=[])),
        repeat_baseline=v.count(t, "repeat_baseline", "traffic.", default=0),
    )


def _scenario(v: _Validator, raw: Any, index: int) -> Scenario:
    at = f"scenario[{index}]."
    if not isinstance(raw, dict):
        raise BadInputError(f"{v.source}: scenario[{index}] must be a table")
    v.only(raw, _TABLES["scenario"], at)
    name = v.text(raw, "name", at, required=True) or ""
    inputs = raw.get("input")
    if not isinstance(inputs, dict):
        raise BadInputError(f"{v.source}: {at}input must be a table of the graph's input")
    humans = raw.get("humans", [])
    if isinstance(humans, str):
        if ":" not in humans:
            raise BadInputError(
                f"{v.source}: {at}humans must be a list of answers or MODULE:ATTR, not {humans!r}"
            )
        answers: tuple[Any, ...] | str = humans
    elif isinstance(humans, list):
        answers = tuple(humans)
    else:
        raise BadInputError(f"{v.source}: {at}humans must be a list of answers or MODULE:ATTR")
    inject: list[FaultSpec] = []
    for text in v.names(raw, "inject", at, default=[]):
        try:
            inject.append(parse_fault(text))
        except BadInputError as e:
            raise BadInputError(f"{v.source}: {at}inject: {e}") from None
    models = raw.get("models", {})
    if not isinstance(models, dict) or not all(
        isinstance(m, str) and ":" in m for m in models.values()
    ):
        raise BadInputError(f'{v.source}: {at}models must be a table of NAME = "MODULE:ATTR"')
    expect = raw.get("expect", {})
    if not isinstance(expect, dict):
        raise BadInputError(f"{v.source}: {at}expect must be a table")
    v.only(expect, ("status", "state"), f"{at}expect.")
    status = expect.get("status")
    if status is not None and status not in STATUSES:
        raise BadInputError(
            f"{v.source}: {at}expect.status must be one of {', '.join(STATUSES)}, not {status!r}"
        )
    state = expect.get("state")
    if state is not None and not isinstance(state, dict):
        raise BadInputError(f"{v.source}: {at}expect.state must be a table of state values")
    return Scenario(name, inputs, answers, tuple(inject), dict(models), status, state)


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def only(self, table: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                raise BadInputError(
                    f"{self.source}: unknown key {prefix}{key} (expected one of "
                    f"{', '.join(allowed)})"
                )

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise BadInputError(f"{self.source}: [{name}] must be a table")
        if _TABLES[name]:
            self.only(value, _TABLES[name], f"{name}.")
        return value

    def text(
        self, table: dict[str, Any], key: str, prefix: str, *, required: bool = False
    ) -> str | None:
        value = table.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            what = "is required: a non-empty string" if value is None else "must be a string"
            raise BadInputError(f"{self.source}: {prefix}{key} {what}")
        return value

    def count(
        self, table: dict[str, Any], key: str, prefix: str, *, default: int, least: int = 0
    ) -> int:
        value = table.get(key, default)
        if type(value) is not int or value < least:
            raise BadInputError(f"{self.source}: {prefix}{key} must be an integer >= {least}")
        return value

    def names(
        self, table: dict[str, Any], key: str, prefix: str, *, default: list[str]
    ) -> list[str]:
        value = table.get(key, default)
        if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
            raise BadInputError(f"{self.source}: {prefix}{key} must be a list of strings")
        return value


def _wrap(source: str, key: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except BadInputError as e:
        raise BadInputError(f"{source}: {key}: {e}") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
