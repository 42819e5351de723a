"""The audit policy: a TOML file (SPEC "Policy file"), validated strictly.

::

    [approval]
    gates = ["human_review"]            # nodes whose interrupt() asks a human to approve
    protected = ["execute_payment", "tool:send_email"]
    approve = ["yes", "approve", true]  # default; a dict resume approves when
                                        # its "approved" key is true
    state_key = "approved"              # only a gate's approving resume may set it true
    single_use = true                   # default: one approval covers one execution

    [budget]                            # each a non-negative integer, per run
    max_steps = 50
    max_node_repeats = 10
    max_llm_calls = 20
    max_tool_calls = 20
    max_tokens = 20000
    max_cost_usd = 0.50                 # rule budget.cost: needs prices, USD per million
    prices = { "gpt-4o" = { input = 2.50, output = 10.00 } }   # tokens, by model name

    [state]
    owners = { output = ["execute"] }   # state keys only these nodes may write

    [rate]                              # enforced live by a guarded recorder, per thread
    max_llm_calls_per_minute = 60
    max_tool_calls_per_minute = 120

    [memory]                            # one of:
    scope = "user_id"                   # every memory namespace a run touches holds this
                                        # configurable key's value as one of its elements
    namespace = ["memories", "{user_id}"]   # or exactly this shape: "{key}" a configurable
                                        # key's value, "*" any one element, else literal

Anything else — an unknown table or key, a value of the wrong type, a file that is
missing or not TOML — is ``BadInputError`` naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgaudit.errors import BadInputError

DEFAULT_APPROVE: tuple[Any, ...] = ("yes", "approve", True)
BUDGET_KEYS = ("max_steps", "max_node_repeats", "max_llm_calls", "max_tool_calls", "max_tokens")
RATE_KEYS = ("max_llm_calls_per_minute", "max_tool_calls_per_minute")
COST_KEYS = ("max_cost_usd", "prices")
NO_POLICY_RULES = ("state.unexplained_change", "run.error", "approval.resume_reused")
"""The rules an audit runs with no policy (SPEC "Policy file")."""
AUDIT_TABLES = ("approval", "budget", "state", "memory")
"""The policy tables an audit applies (``[rate]`` is a live guard's)."""
_PLACEHOLDER = re.compile(r"\{([^{}*]+)\}")


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens of one model."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1e6


@dataclass(frozen=True)
class Policy:
    """What ``audit`` checks beyond the rules that need no policy."""

    gates: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    approve: tuple[Any, ...] = DEFAULT_APPROVE
    state_key: str | None = None
    single_use: bool = True
    budget: dict[str, int] = field(default_factory=dict)
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)
    has_approval: bool = False
    max_cost_usd: float | None = None
    prices: dict[str, Price] = field(default_factory=dict)
    rate: dict[str, int] = field(default_factory=dict)
    memory_scope: str | None = None
    memory_namespace: tuple[str, ...] | None = None
    """``[memory] namespace``: literal labels, ``{key}`` placeholders and ``*``."""
    source: str | None = field(default=None, compare=False)
    """Where the policy was read from (a policy file, a suite file); ``None`` for a dict."""

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and validate a policy file."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInputError(f"policy file {str(p)!r} not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise BadInputError(f"cannot read policy file {str(p)!r}: {e}") from None
        except tomllib.TOMLDecodeError as e:
            raise BadInputError(f"policy file {str(p)!r} is not valid TOML: {e}") from None
        return cls.from_dict(data, source=str(p))

    @property
    def name(self) -> str:
        """The file the policy came from, or how it was given."""
        return self.source or "a policy given as a dict"

    def tables(self) -> dict[str, str]:
        """What an audit applies of the policy, table by table (the tables that set
        something; ``[rate]`` is enforced live by a guard, not by an audit):
        ``{"approval": "gates human_review; protected tool:send_email", ...}``."""
        out: dict[str, str] = {}
        approval = [
            f"{label} {', '.join(names)}"
            for label, names in (("gates", self.gates), ("protected", self.protected))
            if names
        ]
        if self.state_key:
            approval.append(f"state_key {self.state_key}")
        if approval:
            out["approval"] = "; ".join(approval)
        budget = [f"{k} {v}" for k, v in self.budget.items()]
        if self.max_cost_usd is not None:
            budget.append(f"max_cost_usd {self.max_cost_usd:g}")
        if budget:
            out["budget"] = ", ".join(budget)
        if self.owners:
            out["state"] = "owners " + "; ".join(
                f"{key} by {', '.join(nodes) or 'no node'}" for key, nodes in self.owners.items()
            )
        if self.memory_scope:
            out["memory"] = f"scope {self.memory_scope}"
        elif self.memory_namespace is not None:
            out["memory"] = f"namespace {list(self.memory_namespace)}"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> Policy:
        """Validate a parsed policy (the TOML document as a dict); ``source`` names the file
        it came from, in error messages and in reports."""
        origin, source = source, source or "policy"
        _only(data, ("approval", "budget", "state", "rate", "memory"), source, "")
        approval = _table(data, "approval", source)
        _only(
            approval,
            ("gates", "protected", "approve", "state_key", "single_use"),
            source,
            "approval.",
        )
        budget = dict(_table(data, "budget", source))
        _only(budget, (*BUDGET_KEYS, *COST_KEYS), source, "budget.")
        max_cost, prices = cost_limits(budget, source, "budget.")
        state = _table(data, "state", source)
        _only(state, ("owners",), source, "state.")
        rate = _table(data, "rate", source)
        _only(rate, RATE_KEYS, source, "rate.")
        for name, table in (("budget", budget), ("rate", rate)):
            for key, value in table.items():
                if type(value) is not int or value < 0:
                    raise BadInputError(f"{source}: {name}.{key} must be a non-negative integer")
        memory = _table(data, "memory", source)
        _only(memory, ("scope", "namespace"), source, "memory.")
        scope = memory.get("scope")
        if scope is not None and (not isinstance(scope, str) or not scope):
            raise BadInputError(f"{source}: memory.scope must be a configurable key name")
        namespace = _namespace_template(memory.get("namespace"), source)
        if scope is not None and namespace is not None:
            raise BadInputError(
                f"{source}: give memory.scope (the key anywhere in the namespace) or "
                "memory.namespace (the exact shape), not both"
            )
        owners = state.get("owners", {})
        if not isinstance(owners, dict):
            raise BadInputError(f"{source}: state.owners must be a table of key = [nodes]")
        approve = approval.get("approve", list(DEFAULT_APPROVE))
        if not isinstance(approve, list) or not all(
            isinstance(v, str | bool | int | float) for v in approve
        ):
            raise BadInputError(f"{source}: approval.approve must be a list of strings/booleans")
        state_key = approval.get("state_key")
        if state_key is not None and not isinstance(state_key, str):
            raise BadInputError(f"{source}: approval.state_key must be a string")
        single_use = approval.get("single_use", True)
        if not isinstance(single_use, bool):
            raise BadInputError(f"{source}: approval.single_use must be true or false")
        return cls(
            gates=_names(approval, "gates", source, "approval."),
            protected=_names(approval, "protected", source, "approval."),
            approve=tuple(approve),
            state_key=state_key,
            single_use=single_use,
            budget=dict(budget),
            owners={k: _names(owners, k, source, "state.owners.") for k in owners},
            has_approval=bool(approval),
            max_cost_usd=max_cost,
            prices=prices,
            rate=dict(rate),
            memory_scope=scope,
            memory_namespace=namespace,
            source=origin,
        )

    def approves(self, value: Any) -> bool:
        """Whether a resume value approves."""
        if isinstance(value, dict):
            return value.get("approved") is True
        return any(type(value) is type(v) and value == v for v in self.approve)


def policy_note(policy: Policy | None) -> str:
    """One line saying which policy an audit applied, or that none was: the line every
    report (``audit``'s text, ``report``'s and ``stage``'s HTML) carries."""
    free = ", ".join(NO_POLICY_RULES)
    if policy is None:
        return (
            f"no policy applied: only the rules that need none ran ({free}); "
            '"no findings" is not a clean bill under a policy'
        )
    tables = policy.tables()
    if not tables:
        return f"policy {policy.name} sets no rule: only the rules that need none ran ({free})"
    applied = "; ".join(f"[{name}] {what}" for name, what in tables.items())
    return f"policy {policy.name}: {applied}"


def _namespace_template(value: Any, source: str) -> tuple[str, ...] | None:
    """``[memory] namespace``, checked: a non-empty list of labels, each a literal, a whole
    ``{key}`` placeholder, or ``*``."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadInputError(
            f'{source}: memory.namespace must be a list of labels, e.g. ["memories", "{{user_id}}"]'
        )
    for label in value:
        literal = not any(c in label for c in "{}*")
        if label == "*" or _PLACEHOLDER.fullmatch(label) or (literal and label):
            continue
        raise BadInputError(
            f"{source}: memory.namespace label {label!r}: a label is a literal, "
            '"{key}" (a configurable key of the run, the whole label) or "*" (any one label)'
        )
    return tuple(value)


def cost_limits(
    table: dict[str, Any], source: str, prefix: str
) -> tuple[float | None, dict[str, Price]]:
    """Pop and validate ``max_cost_usd`` and ``prices`` of a table (a policy's
    ``[budget]``, a suite's ``[envelope]``): a cost limit needs prices to mean anything."""
    max_cost = table.pop("max_cost_usd", None)
    if max_cost is not None and (not _number(max_cost) or max_cost < 0):
        raise BadInputError(f"{source}: {prefix}max_cost_usd must be a non-negative number")
    raw = table.pop("prices", {})
    if not isinstance(raw, dict):
        raise BadInputError(f"{source}: {prefix}prices must be a table of model = {{...}}")
    prices: dict[str, Price] = {}
    for model, price in raw.items():
        where = f"{source}: {prefix}prices.{model}"
        if not isinstance(price, dict) or set(price) != {"input", "output"}:
            raise BadInputError(f"{where} must be {{ input = USD, output = USD }} per 1M tokens")
        if not all(_number(v) and v >= 0 for v in price.values()):
            raise BadInputError(f"{where}: prices must be non-negative numbers")
        prices[model] = Price(float(price["input"]), float(price["output"]))
    if max_cost is not None and not prices:
        raise BadInputError(f"{source}: {prefix}max_cost_usd needs {prefix}prices")
    return (float(max_cost) if max_cost is not None else None), prices


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(data: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise BadInputError(f"{source}: [{name}] must be a table")
    return value


def _only(table: dict[str, Any], allowed: tuple[str, ...], source: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise BadInputError(
                f"{source}: unknown key {prefix}{key!s} (expected one of {', '.join(allowed)})"
            )


def _names(table: dict[str, Any], key: str, source: str, prefix: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadInputError(f"{source}: {prefix}{key} must be a list of names")
    return tuple(value)
