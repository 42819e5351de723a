"""The hash chain's fast form: ``verify`` hashes stored events with ``event_hash_of``, which
must give exactly the hash the writer recorded with ``event_hash`` for any content."""

from __future__ import annotations

from typing import Any

import pytest

from lgaudit.log.chain import HASHED_FIELDS, canonical_json, event_hash, event_hash_of

BASE: dict[str, Any] = {
    "gseq": 7,
    "run_id": "r-1",
    "seq": 3,
    "ts": 1_765_000_000_000_000,
    "kind": "node_end",
    "thread_id": "t",
    "node": "plan",
    "step": 2,
    "task_id": "task",
    "checkpoint_ns": "",
    "checkpoint_id": "cp",
    "payload": canonical_json({"output": {"$ref": "ab" * 32}}),
    "prev_hash": "0" * 64,
}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"thread_id": None, "node": None, "step": None, "task_id": None},
        {"checkpoint_ns": None, "checkpoint_id": None, "step": 0},
        {"payload": canonical_json({"text": 'quote " backslash \\ tab \t nl \n ü 字 \u2028 🦜'})},
        {"node": "é\x00\x1f", "kind": "custom", "seq": 10**18},
        {"step": -1, "thread_id": ""},
    ],
)
def test_fast_hash_is_the_recorded_hash(change: dict[str, Any]) -> None:
    row = {**BASE, **change}
    assert event_hash_of([row[c] for c in HASHED_FIELDS]) == event_hash(row)


def test_unexpected_types_take_the_general_encoder() -> None:
    for change in ({"step": True}, {"seq": 3.0}, {"node": 5}):
        row = {**BASE, **change}
        assert event_hash_of([row[c] for c in HASHED_FIELDS]) == event_hash(row)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"thread_id": None, "node": None, "step": None, "task_id": None},
        {"payload": canonical_json({"text": 'quote " backslash \\ tab \t nl \n ü 字 \u2028 🦜'})},
        {"node": "é\x00\x1f\x7f", "kind": "custom", "seq": 10**18},
        {"step": True},
        {"seq": 3.0},
        {"node": 5},
        {"gseq": 2**70},
    ],
)
def test_verify_reads_the_recorded_hash_or_leaves_it_to_event_hash_of(
    change: dict[str, Any],
) -> None:
    """verify's orjson hash is the recorded one, or none (a value orjson refuses): then
    ``event_hash_of`` decides."""
    from lgaudit.log.verify_segment import _hash_of

    row = {**BASE, **change}
    values = tuple(row[c] for c in HASHED_FIELDS)
    fast = _hash_of(values)
    if change in ({}, {"thread_id": None, "node": None, "step": None, "task_id": None}):
        assert fast == event_hash(row)  # what verify meets: no second hash
    assert fast in (event_hash(row), None)
