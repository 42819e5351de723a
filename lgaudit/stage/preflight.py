"""Bad input a stage catches before any case runs: each one ``BadInputError`` line naming
the suite file and the key (nothing recorded, exit 2 from the CLI)."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from lgaudit.errors import BadInputError
from lgaudit.replay.spec import load_model
from lgaudit.replay.targets import check_targets
from lgaudit.stage.sandbox import load_stand_ins
from lgaudit.stage.suite import Suite, load_answer, load_humans
from lgaudit.store import RunRecord, Store


def check_scenarios(suite: Suite, candidate: Any) -> None:
    """Every scenario's input keys, simulated human, models and node/tool faults must fit
    the candidate (a model fault is checked when its run calls models)."""
    keys = input_keys(candidate)
    if suite.tools is not None:
        load_stand_ins(suite.path, suite.tools)
    if suite.pending is not None:
        load_answer(suite)
    for i, s in enumerate(suite.scenarios):
        at = f"{suite.path}: scenario {s.name!r}"
        unknown = [k for k in s.input if keys is not None and k not in keys]
        if unknown:
            raise BadInputError(
                f"{suite.path}: scenario[{i}].input.{unknown[0]} ({s.name!r}): the candidate's "
                f"input has no key {unknown[0]!r} (its keys: {', '.join(sorted(keys or ()))})"
            )
        load_humans(suite, s)
        for name, ref in s.models.items():
            try:
                load_model(ref)
            except BadInputError as e:
                raise BadInputError(f"{at} models.{name}: {e}") from None
        try:
            check_targets(candidate, [], [f for f in s.inject if f.kind != "llm"], {}, None)
        except BadInputError as e:
            raise BadInputError(f"{at} inject: {e}") from None


def input_keys(graph: Any) -> set[str] | None:
    """The keys a graph's input may have: its input schema's channels (a TypedDict's keys, a
    pydantic model's or a dataclass's fields, ``MessagesState``'s ``messages``), or ``None``
    when its input is not a mapping of channels (a Functional API entrypoint takes any
    value, a state of one root value too)."""
    if not isinstance(graph, CompiledStateGraph):
        return None
    builder = graph.builder
    channels = builder.schemas.get(builder.input_schema)
    if not channels or "__root__" in channels:
        return None
    return set(channels)


def check_prices(store: Store, suite: Suite, sources: list[RunRecord]) -> None:
    """When ``[envelope] prices`` are given, every model the selected traffic called must
    have one: its replays would call it again, and an unknown cost is never free."""
    if not suite.prices:
        return
    for run in sources:
        for e in store.events(run["run_id"], kinds=["llm_end"]):
            model = str(e["payload"].get("model"))
            if model not in suite.prices:
                raise BadInputError(
                    f"{suite.path}: envelope.prices has no price for model {model!r}, which "
                    f"the selected [traffic] called (run {run['run_id'][:12]}): add "
                    f'"{model}" = {{ input = ..., output = ... }} (USD per million tokens)'
                )
