"""A replay's arguments checked before the graph or LangGraph is imported: a bad spec, a
module that does not exist or an unknown run is said at once (one line, exit 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lgaudit.errors import BadInputError
from lgaudit.replay.spec import (
    CassetteMode,
    FaultSpec,
    find_object,
    parse_fault,
    parse_patch,
    parse_swap,
)


def check_replay(
    run: str,
    *,
    graph: str | Any,
    url: str | None = None,
    where: tuple[str | None, int | None, str | None] = (None, None, None),
    cassette: str | CassetteMode = CassetteMode.STRICT,
    swaps: Mapping[str, Any] | Sequence[str] = (),
    faults: Sequence[str | FaultSpec] = (),
    patch: Mapping[str, Any] | str | None = None,
) -> None:
    """Raise the ``BadInputError`` ``replay`` would for what can be told without importing
    the graph, in the order ``replay`` checks: the cassette mode, each ``--inject`` and
    ``--swap-model`` (its module must exist), the patch, the start point, the graph's
    module, then the store and the run."""
    from lgaudit.store import Store

    CassetteMode.parse(cassette)
    for f in faults:
        if not isinstance(f, FaultSpec):
            parse_fault(f)
    refs = swaps.values() if isinstance(swaps, Mapping) else [parse_swap(s)[1] for s in swaps]
    for ref in refs:
        if isinstance(ref, str):
            find_object(ref, what="model")
    parse_patch(patch)
    if sum(x is not None for x in where) > 1:
        raise BadInputError("give at most one of --from, --from-step, --from-node")
    if isinstance(graph, str):
        find_object(graph, what="graph")
    with Store.open(url) as store:
        store.run(run)
