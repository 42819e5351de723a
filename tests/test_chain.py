"""The hash chain's fast form: ``verify`` hashes stored events with ``event_hash_of``, which
must give exactly the hash the writer recorded with ``event_hash`` for any content."""

from __future__ import annotations

from typing import Any

import pytest

from lgaudit.store.chain import HASHED_FIELDS, canonical_json, event_hash, event_hash_of

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
