"""``verify`` recomputes the hash chain of a real recorded graph and names the first bad event.

Tampering is done as a DBA would: around the append-only triggers (SQLite: the file opened
with ``sqlite3`` and the triggers dropped; PostgreSQL: ``session_replication_role =
replica``), so only the hash chain stands between the edit and the auditor.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import fetch, insert_raw, record_loop, tamper

from lgaudit import Store, UnknownRunError
from lgaudit.cli import cli
from lgaudit.log import verify


@pytest.fixture(autouse=True, params=["one pass", "segments"])
def passes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every check is made both ways a store is verified: one pass over the chain, and (as
    a store of many events is) ``gseq`` segments checked by worker processes and joined in
    chain order, here segments of 7 events so that tampered events fall at and across the
    segments' boundaries."""
    if request.param == "segments":
        monkeypatch.setattr(verify, "PARALLEL_FROM", 0)
        monkeypatch.setattr(verify, "SEGMENT", 7)
        monkeypatch.setattr(verify, "_workers", lambda: 2)
    return str(request.param)


@pytest.fixture
def recorded(store: Store) -> Store:
    record_loop(store, "order-42")
    result = store.verify()
    assert result["ok"], result
    return store


def _events(url: str) -> list[Any]:
    return fetch(
        url, "SELECT gseq, run_id, seq, kind, payload, hash FROM lgaudit_events ORDER BY gseq"
    )


def _event_at(url: str, gseq: int) -> Any:
    return next(e for e in _events(url) if e.gseq == gseq)


def _middle_checkpoint(url: str) -> Any:
    """A checkpoint event in the middle of the chain (it has state rows of its own)."""
    events = _events(url)
    checkpoints = [e for e in events if e.kind == "checkpoint" and 1 < e.gseq < len(events)]
    return checkpoints[len(checkpoints) // 2]


def _assert_names(
    result: dict[str, Any], event: Any, *reason_words: str, checked: int | None = None
) -> None:
    assert result["ok"] is False
    bad = result["first_bad"]
    assert bad is not None
    assert (bad["run_id"], bad["seq"]) == (event.run_id, event.seq), bad
    for word in reason_words:
        assert word in bad["reason"], bad
    assert result["events_checked"] == (event.gseq - 1 if checked is None else checked)


# -- an honest store ----------------------------------------------------------------------


def test_recorded_graph_verifies(recorded: Store) -> None:
    events = _events(recorded.url)
    assert len(events) > 5
    assert recorded.verify() == {
        "ok": True,
        "events_checked": len(events),
        "first_bad": None,
        "head_hash": events[-1].hash,
    }
    # a reader opened later agrees
    with Store.open(recorded.url) as reader:
        assert reader.verify()["ok"]


def test_empty_store_verifies(store: Store) -> None:
    assert store.verify() == {"ok": True, "events_checked": 0, "first_bad": None, "head_hash": None}


# -- modified events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [("payload", None), ("kind", "run_end"), ("node", "forged"), ("ts", 1), ("step", 99)],
)
def test_modified_event_is_named(recorded: Store, column: str, value: Any) -> None:
    url = recorded.url
    victim = _middle_checkpoint(url)
    if column == "payload":
        payload = json.loads(victim.payload)
        payload["source"] = "update"  # a forged state update, still valid JSON
        value = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    tamper(url, [(f"UPDATE lgaudit_events SET {column} = ? WHERE gseq = ?", [value, victim.gseq])])
    _assert_names(recorded.verify(), victim, "modified")


def test_modified_and_rehashed_event_breaks_the_next_link(recorded: Store) -> None:
    """Recomputing the tampered event's own hash moves the break to its successor."""
    from lgaudit.log.chain import event_hash

    url = recorded.url
    victim = _middle_checkpoint(url)
    row = fetch(url, "SELECT * FROM lgaudit_events WHERE gseq = :g", {"g": victim.gseq})[0]
    content = dict(row._mapping)
    content["payload"] = content["payload"].replace('"loop"', '"update"')
    assert content["payload"] != row.payload
    new_hash = event_hash(content)
    tamper(
        url,
        [
            (
                "UPDATE lgaudit_events SET payload = ?, hash = ? WHERE gseq = ?",
                [content["payload"], new_hash, victim.gseq],
            )
        ],
    )
    successor = _event_at(url, victim.gseq + 1)
    _assert_names(recorded.verify(), successor, "prev_hash")


# -- removed and reordered events ---------------------------------------------------------


def test_event_deleted_from_the_middle_is_detected(recorded: Store) -> None:
    url = recorded.url
    victim = _middle_checkpoint(url)
    successor = _event_at(url, victim.gseq + 1)
    tamper(url, [("DELETE FROM lgaudit_events WHERE gseq = ?", [victim.gseq])])
    result = recorded.verify()
    _assert_names(result, successor, "missing", checked=victim.gseq - 1)
    # verifying only the run catches it too (the successor's predecessor is gone)
    run_result = recorded.verify(run=victim.run_id)
    assert run_result["ok"] is False
    assert run_result["first_bad"]["seq"] == successor.seq


def test_deleted_event_with_renumbered_positions_is_detected(recorded: Store) -> None:
    """Closing the gap (shifting later gseqs and seqs down) still breaks the chain."""
    url = recorded.url
    victim = _middle_checkpoint(url)
    last = len(_events(url))
    successor = _event_at(url, victim.gseq + 1)
    statements: list[tuple[str, list[Any]]] = [
        ("DELETE FROM lgaudit_events WHERE gseq = ?", [victim.gseq])
    ]
    for g in range(victim.gseq + 1, last + 1):
        statements.append(
            ("UPDATE lgaudit_events SET gseq = gseq - 1, seq = seq - 1 WHERE gseq = ?", [g])
        )
    tamper(url, statements)
    result = recorded.verify()
    assert result["ok"] is False
    assert (result["first_bad"]["run_id"], result["first_bad"]["seq"]) == (
        successor.run_id,
        successor.seq - 1,
    )
    assert result["events_checked"] == victim.gseq - 1


def test_swapped_positions_are_detected(recorded: Store) -> None:
    url = recorded.url
    a = _middle_checkpoint(url)
    b = _event_at(url, a.gseq + 1)
    tamper(
        url,
        [
            ("UPDATE lgaudit_events SET gseq = -1 WHERE gseq = ?", [a.gseq]),
            ("UPDATE lgaudit_events SET gseq = ? WHERE gseq = ?", [a.gseq, b.gseq]),
            ("UPDATE lgaudit_events SET gseq = ? WHERE gseq = -1", [b.gseq]),
        ],
    )
    result = recorded.verify()
    assert result["ok"] is False
    # the event now standing at the first swapped position is the first bad one
    assert (result["first_bad"]["run_id"], result["first_bad"]["seq"]) == (b.run_id, b.seq)
    assert result["events_checked"] == a.gseq - 1


def test_swapped_contents_are_detected(recorded: Store) -> None:
    """Swapping two events' payloads and hashes (positions kept) is detected."""
    url = recorded.url
    events = _events(url)
    a = _middle_checkpoint(url)
    b = next(e for e in events if e.kind == "checkpoint" and e.gseq > a.gseq + 1)
    tamper(
        url,
        [
            (
                "UPDATE lgaudit_events SET payload = ?, hash = ? WHERE gseq = ?",
                [b.payload, "x" * 64, a.gseq],
            ),
            (
                "UPDATE lgaudit_events SET payload = ?, hash = ? WHERE gseq = ?",
                [a.payload, b.hash, b.gseq],
            ),
            ("UPDATE lgaudit_events SET hash = ? WHERE gseq = ?", [a.hash, a.gseq]),
        ],
    )
    _assert_names(recorded.verify(), a, "modified")


# -- modified state rows and blobs --------------------------------------------------------


def _state_tamper(url: str, what: str, victim: Any) -> list[tuple[str, list[Any]]]:
    g = victim.gseq
    other_ref = fetch(
        url,
        "SELECT hash FROM lgaudit_blobs WHERE hash NOT IN "
        "(SELECT ref FROM lgaudit_channel_values WHERE gseq = :g) ORDER BY hash",
        {"g": g},
    )[0][0]
    channel = fetch(
        url, "SELECT channel FROM lgaudit_channel_values WHERE gseq = :g ORDER BY channel", {"g": g}
    )[0][0]
    return {
        "checkpoint_parent": [
            (
                "UPDATE lgaudit_checkpoints SET parent_checkpoint_id = ? WHERE gseq = ?",
                ["forged", g],
            )
        ],
        "checkpoint_thread": [
            ("UPDATE lgaudit_checkpoints SET thread_id = ? WHERE gseq = ?", ["other-thread", g])
        ],
        "checkpoint_deleted": [("DELETE FROM lgaudit_checkpoints WHERE gseq = ?", [g])],
        "channel_value_ref": [
            (
                "UPDATE lgaudit_channel_values SET ref = ? WHERE gseq = ? AND channel = ?",
                [other_ref, g, channel],
            )
        ],
        "channel_value_deleted": [
            ("DELETE FROM lgaudit_channel_values WHERE gseq = ? AND channel = ?", [g, channel])
        ],
    }[what]


@pytest.mark.parametrize(
    "what",
    [
        "checkpoint_parent",
        "checkpoint_thread",
        "checkpoint_deleted",
        "channel_value_ref",
        "channel_value_deleted",
    ],
)
def test_modified_checkpoint_state_is_detected(recorded: Store, what: str) -> None:
    url = recorded.url
    victim = next(
        e
        for e in _events(url)
        if e.kind == "checkpoint"
        and e.gseq > 2
        and fetch(
            url, "SELECT count(*) FROM lgaudit_channel_values WHERE gseq = :g", {"g": e.gseq}
        )[0][0]
        > 0
    )
    tamper(url, _state_tamper(url, what, victim))
    _assert_names(recorded.verify(), victim, "state rows")


def test_modified_pending_write_is_detected(recorded: Store) -> None:
    url = recorded.url
    victim = next(e for e in _events(url) if e.kind == "writes" and e.gseq > 2)
    tamper(
        url, [("UPDATE lgaudit_writes SET channel = ? WHERE gseq = ?", ["approved", victim.gseq])]
    )
    _assert_names(recorded.verify(), victim, "state rows")


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE lgaudit_runs SET thread_id = 'someone-else' WHERE run_id = ?",
        "UPDATE lgaudit_runs SET environment = 'prod' WHERE run_id = ?",
        "DELETE FROM lgaudit_runs WHERE run_id = ?",
    ],
)
def test_an_edited_or_removed_run_row_is_detected(recorded: Store, edit: str) -> None:
    """A run's row (its thread, graph, environment, parent, replay spec) is covered by a
    digest its first event carries: editing or deleting it names that event."""
    url = recorded.url
    first = next(e for e in _events(url) if e.seq == 1)
    assert "run_digest" in json.loads(first.payload)
    tamper(url, [(edit, [first.run_id])])
    _assert_names(recorded.verify(), first, "run's row")


def test_a_run_row_inserted_without_events_is_detected(recorded: Store) -> None:
    """Runs are inserted with their events; a run row no event belongs to is forged."""
    insert_raw(
        recorded.url,
        "lgaudit_runs",
        {"run_id": "forged-run", "thread_id": "order-42", "started_at": 1},
    )
    result = recorded.verify()
    assert result["ok"] is False and "forged-run" in result["first_bad"]["reason"]


def test_removed_tombstone_is_detected(recorded: Store) -> None:
    """Deleting a tombstone would bring a deleted thread back: verify names the delete."""
    from lgaudit import AuditSaver

    AuditSaver(recorded).delete_thread("order-42")
    url = recorded.url
    (delete_event,) = [e for e in _events(url) if e.kind == "delete"]
    tamper(url, [("DELETE FROM lgaudit_tombstones WHERE gseq = ?", [delete_event.gseq])])
    _assert_names(recorded.verify(), delete_event, "state rows")


def test_state_row_inserted_into_a_recorded_event_is_detected(recorded: Store) -> None:
    """Inserts are allowed by the triggers; an extra row under a recorded event is not."""
    url = recorded.url
    victim = _middle_checkpoint(url)
    some_ref = fetch(url, "SELECT ref FROM lgaudit_channel_values ORDER BY gseq")[0][0]
    insert_raw(
        url,
        "lgaudit_channel_values",
        {
            "gseq": victim.gseq,
            "channel": "approved_forged",
            "thread_id": "order-42",
            "checkpoint_ns": "",
            "version": "1",
            "ref": some_ref,
        },
    )
    _assert_names(recorded.verify(), victim, "state rows")


def test_state_row_recorded_by_no_event_is_detected(recorded: Store) -> None:
    """A pending write inserted past the end of the chain (the checkpointer would serve it)."""
    url = recorded.url
    last = _events(url)[-1].gseq
    cp = fetch(
        url,
        "SELECT thread_id, checkpoint_ns, checkpoint_id FROM lgaudit_checkpoints "
        "ORDER BY gseq DESC",
    )[0]
    some_ref = fetch(url, "SELECT ref FROM lgaudit_channel_values ORDER BY gseq")[0][0]
    insert_raw(
        url,
        "lgaudit_writes",
        {
            "gseq": last + 1000,
            "position": 0,
            "thread_id": cp.thread_id,
            "checkpoint_ns": cp.checkpoint_ns,
            "checkpoint_id": cp.checkpoint_id,
            "task_id": "forged-task",
            "task_path": "",
            "idx": 0,
            "channel": "approved",
            "ref": some_ref,
        },
    )
    result = recorded.verify()
    assert result["ok"] is False, result
    assert "lgaudit_writes" in result["first_bad"]["reason"]


def test_modified_blob_is_detected(recorded: Store) -> None:
    url = recorded.url
    ref = fetch(url, "SELECT ref FROM lgaudit_channel_values ORDER BY gseq DESC")[0][0]
    tamper(url, [("UPDATE lgaudit_blobs SET data = ? WHERE hash = ?", [b"\xa6forged", ref])])
    result = recorded.verify()
    assert result["ok"] is False
    assert result["first_bad"]["run_id"] is None
    assert ref in result["first_bad"]["reason"]
    assert "modified" in result["first_bad"]["reason"]


def _rechain(url: str, edits: dict[int, dict[str, Any]]) -> None:
    """Edit events and recompute the hashes of the chain from the first one edited: only
    what the hashes do not cover (positions and sequences) can still be caught."""
    from lgaudit.log.chain import event_hash

    rows = [dict(r._mapping) for r in fetch(url, "SELECT * FROM lgaudit_events ORDER BY gseq")]
    first = min(edits)
    statements: list[tuple[str, list[Any]]] = []
    prev = None
    for row in rows:
        if row["gseq"] >= first:
            row.update(edits.get(row["gseq"], {}))
            row["prev_hash"] = prev if prev is not None else row["prev_hash"]
            new = event_hash(row)
            statements.append(
                (
                    "UPDATE lgaudit_events SET seq = ?, prev_hash = ?, hash = ? WHERE gseq = ?",
                    [row["seq"], row["prev_hash"], new, row["gseq"]],
                )
            )
            row["hash"] = new
        prev = row["hash"]
    tamper(url, statements)


def test_a_rehashed_sequence_jump_is_named_wherever_segments_cut(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's ``seq`` jumping (the chain rehashed after the edit) is named the same at
    every segment size: at a segment's start the run's last ``seq`` is in another one."""
    record_loop(store, "thread-a")
    record_loop(store, "thread-b")
    events = _events(store.url)
    victim = events[len(events) * 3 // 4]
    _rechain(store.url, {victim.gseq: {"seq": victim.seq + 10_000}})
    monkeypatch.setattr(verify, "PARALLEL_FROM", 10**9)
    expected = store.verify()
    assert expected["first_bad"] == {
        "run_id": victim.run_id,
        "seq": victim.seq + 10_000,
        "reason": f"run sequence jumps from {victim.seq - 1} to {victim.seq + 10_000}",
    }
    assert expected["events_checked"] == victim.gseq - 1
    monkeypatch.setattr(verify, "PARALLEL_FROM", 0)
    monkeypatch.setattr(verify, "_workers", lambda: 2)
    for size in (1, 2, 3, 5, 8, 13):
        monkeypatch.setattr(verify, "SEGMENT", size)
        assert store.verify() == expected, size


def test_without_worker_processes_the_store_is_verified_in_one_pass(
    recorded: Store, passes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no worker starts (a Python embedded in another program) or one ends without
    its result, verify checks the store in one pass: the same result."""
    expected = recorded.verify()
    for executable in ("/bin/false", "/no/such/python"):
        monkeypatch.setattr("sys.executable", executable)
        assert recorded.verify() == expected
    victim = _middle_checkpoint(recorded.url)
    tamper(recorded.url, [("UPDATE lgaudit_events SET ts = ? WHERE gseq = ?", [0, victim.gseq])])
    _assert_names(recorded.verify(), victim, "modified")


# -- one run ------------------------------------------------------------------------------


def test_verify_one_run(store: Store) -> None:
    record_loop(store, "thread-a")
    record_loop(store, "thread-b")
    runs = {r["thread_id"]: r["run_id"] for r in store.runs()}
    url = store.url
    events = _events(url)
    a_events = [e for e in events if e.run_id == runs["thread-a"]]
    b_events = [e for e in events if e.run_id == runs["thread-b"]]
    assert store.verify(run=runs["thread-a"]) == {
        "ok": True,
        "events_checked": len(a_events),
        "first_bad": None,
        "head_hash": a_events[-1].hash,  # the run's last event
    }
    assert store.verify(run=runs["thread-b"][:8])["events_checked"] == len(b_events)

    victim = b_events[len(b_events) // 2]
    tamper(url, [("UPDATE lgaudit_events SET payload = ? WHERE gseq = ?", ["{}", victim.gseq])])
    assert store.verify(run=runs["thread-a"])["ok"] is True  # the other run is intact
    one = store.verify(run=runs["thread-b"])
    assert one["ok"] is False
    assert (one["first_bad"]["run_id"], one["first_bad"]["seq"]) == (victim.run_id, victim.seq)
    assert one["events_checked"] == victim.seq - 1
    assert store.verify()["first_bad"]["seq"] == victim.seq

    with pytest.raises(UnknownRunError):
        store.verify(run="no-such-run")


# -- the CLI ------------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_verify_json_ok(recorded: Store) -> None:
    events = _events(recorded.url)
    result = _cli("verify", "--db", recorded.url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "ok": True,
        "events_checked": len(events),
        "first_bad": None,
        "head_hash": events[-1].hash,
    }
    assert result.stderr == ""


def test_cli_verify_json_broken(recorded: Store) -> None:
    url = recorded.url
    victim = _middle_checkpoint(url)
    tamper(url, [("UPDATE lgaudit_events SET ts = ? WHERE gseq = ?", [0, victim.gseq])])
    result = _cli("--db", url, "verify", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert set(doc) == {"ok", "events_checked", "first_bad", "head_hash"}
    assert doc["head_hash"] is None  # a broken chain has no head to pin
    assert doc["ok"] is False
    assert doc["events_checked"] == victim.gseq - 1
    assert doc["first_bad"]["run_id"] == victim.run_id
    assert doc["first_bad"]["seq"] == victim.seq
    assert "modified" in doc["first_bad"]["reason"]

    run_result = _cli("verify", "--db", url, "--run", victim.run_id[:8], "--json")
    assert run_result.exit_code == 1
    assert json.loads(run_result.stdout)["first_bad"]["seq"] == victim.seq

    text_result = _cli("verify", "--db", url)
    assert text_result.exit_code == 1
    assert victim.run_id in text_result.stdout and f"seq {victim.seq}" in text_result.stdout
