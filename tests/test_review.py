"""Review and sign-off: each ``lgaudit stage`` (and each change of a shadow's verdict) is
kept as a stage result in the hash chain; people sign it off; ``lgaudit promotable`` answers
a deploy pipeline — on SQLite and PostgreSQL, with real staged LangGraph graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import fetch, snapshot, tamper

from lgaudit import Store, UnknownStageError
from lgaudit.cli import cli
from lgaudit.review import add_signoff, get_stage, list_signoffs, list_stages, promotable

PROMOTES = """
[suite]
name = "payments"
graph = "stage_graphs:payments"
[[scenario]]
name = "approved"
input = { amount = 111 }
humans = ["approve"]
expect = { status = "succeeded", state = { approved = true, paid = true } }
[gate]
require = ["scenarios"]
"""
# the same suite, but its expectation is wrong about the candidate: the verdict is block
BLOCKS = PROMOTES.replace("approved = true, paid = true", "approved = false")


def lg(db_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", db_url])


def staged(db_url: str, tmp_path: Path, text: str, *args: str) -> dict[str, Any]:
    path = tmp_path / "suite.toml"
    path.write_text(text, encoding="utf-8")
    result = lg(db_url, "stage", str(path), "--json", *args)
    assert result.exit_code in (0, 1), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_stage_keeps_its_result_and_prints_its_id(db_url: str, tmp_path: Path) -> None:
    doc = staged(db_url, tmp_path, PROMOTES)

    assert list(doc)[0] == "stage_id" and doc["verdict"] == "promote"
    listed = json.loads(lg(db_url, "stages", "--json").stdout)
    assert [s["stage_id"] for s in listed] == [doc["stage_id"]]
    assert listed[0] | {"ts": None} == {
        "stage_id": doc["stage_id"],
        "ts": None,
        "suite": "payments",
        "graph": "stage_graphs:payments",
        "verdict": "promote",
        "kind": "stage",
        "cases": 1,
        "signoff": None,
    }
    with Store.open(db_url) as store:
        kept = get_stage(store, doc["stage_id"][:8])
        assert kept["document"] == doc  # the whole --json document, in its order
        assert kept["case_run_ids"] == [doc["cases"][0]["run_id"]]
        assert store.verify()["ok"]
    # the text output names it, with the sign-off to run
    path = tmp_path / "suite.toml"
    text = lg(db_url, "stage", str(path)).stdout
    newest = list_stages_of(db_url)[0]["stage_id"]
    assert f"stage {newest} recorded" in text
    assert f"lgaudit signoff {newest[:12]}" in text
    # lgaudit's bookkeeping runs are not listed as runs
    runs = json.loads(lg(db_url, "runs", "--json").stdout)
    assert {r["graph"] for r in runs} == {"payments"}


def list_stages_of(db_url: str, **kw: Any) -> list[dict[str, Any]]:
    with Store.open(db_url) as store:
        return list_stages(store, **kw)


def test_stages_are_listed_newest_first_and_filtered(db_url: str, tmp_path: Path) -> None:
    first = staged(db_url, tmp_path, PROMOTES)
    second = staged(db_url, tmp_path, BLOCKS)
    third = staged(db_url, tmp_path, PROMOTES.replace('"payments"', '"other"'))

    def ids(*args: str) -> list[str]:
        result = lg(db_url, "stages", "--json", *args)
        assert result.exit_code == 0, result.output
        return [s["stage_id"] for s in json.loads(result.stdout)]

    assert ids() == [third["stage_id"], second["stage_id"], first["stage_id"]]
    assert ids("--suite", "payments") == [second["stage_id"], first["stage_id"]]
    assert ids("--suite", "payments", "--limit", "1") == [second["stage_id"]]
    assert ids("--graph", "stage_graphs:payments", "--suite", "other") == [third["stage_id"]]
    assert ids("--graph", "stage_graphs:nothing") == []
    text = lg(db_url, "stages").stdout.splitlines()
    assert len(text) == 3 and "block" in text[1] and "not signed off" in text[1]
    assert "raise --limit" in lg(db_url, "stages", "--limit", "2").stdout


def test_signoff_rules(db_url: str, tmp_path: Path) -> None:
    good = staged(db_url, tmp_path, PROMOTES)["stage_id"]
    bad = staged(db_url, tmp_path, BLOCKS)["stage_id"]
    before = snapshot(db_url)

    refused = [
        ("signoff", bad, "--by", "ann", "--decision", "approve"),  # block needs --override
        ("signoff", good, "--by", "ann", "--decision", "approve", "--override", "why"),
        ("signoff", bad, "--by", "ann", "--decision", "reject", "--override", "why"),
        ("signoff", good, "--by", " ", "--decision", "approve"),
        ("signoff", good, "--by", "ann", "--decision", "maybe"),
        ("signoff", "feedbeefcafe", "--by", "ann", "--decision", "approve"),
        ("signoff", good[:5], "--by", "ann", "--decision", "approve"),  # prefix too short
        ("signoffs", "feedbeefcafe"),
        ("signoff", "--by", "ann", "--decision", "approve"),
    ]
    for args in refused:
        result = lg(db_url, *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.output
    assert snapshot(db_url) == before
    needs = lg(db_url, "signoff", bad, "--by", "ann", "--decision", "approve").stderr
    assert "block" in needs and "--override" in needs

    approved = lg(
        db_url, "signoff", bad[:6], "--by", "ann", "--decision", "approve",
        "--override", "known flake in the fixture", "--note", "looked at the case", "--json",
    )  # fmt: skip
    assert approved.exit_code == 0, approved.output
    done = json.loads(approved.stdout)
    assert {k: done[k] for k in ("stage_id", "by", "decision", "note", "override")} == {
        "stage_id": bad,
        "by": "ann",
        "decision": "approve",
        "note": "looked at the case",
        "override": "known flake in the fixture",
    }
    rejected = lg(db_url, "signoff", good, "--by", "bob", "--decision", "reject")
    assert rejected.exit_code == 0 and "bob rejected stage" in rejected.stdout

    every = json.loads(lg(db_url, "signoffs", "--json").stdout)
    assert [(s["stage_id"], s["decision"]) for s in every] == [(good, "reject"), (bad, "approve")]
    mine = json.loads(lg(db_url, "signoffs", bad[:10], "--json").stdout)
    assert [s["signoff_id"] for s in mine] == [done["signoff_id"]]
    with Store.open(db_url) as store:
        assert list_stages(store, suite="payments")[0]["signoff"]["override"] is not None
        assert store.verify()["ok"]


def test_promotable_follows_verdict_and_signoffs(db_url: str, tmp_path: Path) -> None:
    def ask(*args: str) -> tuple[int, dict[str, Any]]:
        result = lg(db_url, "promotable", "payments", "--json", *args)
        assert result.exit_code in (0, 1), result.output
        return result.exit_code, json.loads(result.stdout)

    staged(db_url, tmp_path, PROMOTES.replace('"payments"', '"other"'))
    code, answer = ask()
    assert (code, answer["missing"]) == (1, "stage") and "no stage result" in answer["reason"]

    sid = staged(db_url, tmp_path, PROMOTES)["stage_id"]
    code, answer = ask()
    assert (code, answer["missing"], answer["stage_id"]) == (1, "signoff", sid)
    text = lg(db_url, "promotable", "payments")
    assert text.exit_code == 1 and "no sign-off" in text.stdout

    lg(db_url, "signoff", sid, "--by", "ann", "--decision", "approve")
    code, answer = ask()
    assert (code, answer["ok"], answer["signoff"]["by"]) == (0, True, "ann")
    assert ask("--graph", "stage_graphs:payments")[0] == 0
    assert ask("--graph", "stage_graphs:payments_fast_lane")[1]["missing"] == "stage"

    lg(db_url, "signoff", sid, "--by", "bob", "--decision", "reject", "--note", "not yet")
    code, answer = ask()
    assert (code, answer["missing"]) == (1, "rejected") and "rejected later" in answer["reason"]

    # a newer stage result that blocks: only an override approval lets it through
    blocked = staged(db_url, tmp_path, BLOCKS)["stage_id"]
    code, answer = ask()
    assert (code, answer["missing"], answer["stage_id"]) == (1, "blocked", blocked)
    lg(db_url, "signoff", blocked, "--by", "cy", "--decision", "reject")
    assert ask()[1]["missing"] == "blocked"
    lg(db_url, "signoff", blocked, "--by", "ann", "--decision", "approve", "--override", "ok")
    code, answer = ask()
    assert code == 0 and "override" in answer["reason"]

    bad = lg(db_url, "promotable", "payments", "--graph", "")
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_verify_finds_a_changed_signoff_and_stage_result(db_url: str, tmp_path: Path) -> None:
    sid = staged(db_url, tmp_path, BLOCKS)["stage_id"]
    with Store.open(db_url) as store:
        add_signoff(store, sid, by="ann", decision="reject", note="the expectation fails")
        assert store.verify()["ok"]

    tamper(db_url, [("UPDATE lgaudit_signoffs SET decision = 'approve' WHERE stage_id = ?", [sid])])
    with Store.open(db_url) as store:
        result = store.verify()
        # the forged approval would make it promotable: the chain says otherwise
        assert result["ok"] is False
        assert "state rows recorded by this event" in result["first_bad"]["reason"]
        (event,) = [
            e
            for e in fetch(db_url, "SELECT run_id, seq, payload FROM lgaudit_events")
            if '"lgaudit:signoff"' in e.payload
        ]
        assert (result["first_bad"]["run_id"], result["first_bad"]["seq"]) == (
            event.run_id,
            event.seq,
        )


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE lgaudit_stage_results SET verdict = 'promote' WHERE stage_id = ?",
        "UPDATE lgaudit_stage_results SET document = '{}' WHERE stage_id = ?",
        "DELETE FROM lgaudit_stage_results WHERE stage_id = ?",
    ],
)
def test_verify_finds_a_changed_or_removed_stage_result(
    db_url: str, tmp_path: Path, edit: str
) -> None:
    sid = staged(db_url, tmp_path, BLOCKS)["stage_id"]
    tamper(db_url, [(edit, [sid])])
    result = lg(db_url, "verify", "--json")
    assert result.exit_code == 1
    assert "state rows" in json.loads(result.stdout)["first_bad"]["reason"]


def test_library_refs(store: Store) -> None:
    from lgaudit.review import record_stage_result

    doc = {"suite": "s", "graph": "m:g", "verdict": "promote", "checks": [], "cases": []}
    ids = [record_stage_result(store, doc) for _ in range(2)]
    assert get_stage(store, ids[0])["stage_id"] == ids[0]
    for ref in ("", "abc", "0" * 32, "not-hex-at-all"):
        with pytest.raises(UnknownStageError):
            get_stage(store, ref)
    assert list_signoffs(store) == []
    assert promotable(store, "s").missing == "signoff"
    with pytest.raises(UnknownStageError):
        add_signoff(store, "", by="a", decision="approve")


def test_a_shadow_keeps_each_verdict_change(store: Store) -> None:
    from helpers import _shadow_once

    _shadow_once(store.url)
    (first,) = list_stages(store, kind="shadow")
    assert (first["suite"], first["verdict"], first["cases"]) == ("helpers", "promote", 1)
    doc = get_stage(store, first["stage_id"])["document"]
    assert doc["stage_id"] == first["stage_id"] and len(doc["runs"]) == 1
    _shadow_once(store.url)  # one more run replayed, the verdict unchanged: nothing new
    assert [s["stage_id"] for s in list_stages(store, kind="shadow")] == [first["stage_id"]]
    assert store.verify()["ok"]


def test_a_shadow_records_its_verdict_when_it_flips(db_url: str, tmp_path: Path) -> None:
    import shadow_graphs

    from lgaudit import Recorder
    from lgaudit.stage.shadow import shadow

    path = tmp_path / "shadow.toml"
    path.write_text(
        '[suite]\nname = "greeter-v2"\ngraph = "shadow_graphs:greeter_changed"\n'
        '[traffic]\nenvironment = "production"\ngraph = "greeter"\n',
        encoding="utf-8",
    )

    def greet_then_shadow(name: str) -> Any:
        with Recorder(db_url, environment="production") as recorder:
            recorder.attach(shadow_graphs.greeter()).invoke({"name": name})
        return shadow(str(path), url=db_url)

    assert greet_then_shadow("alice").verdict == "promote"  # greeted alike
    blocked = greet_then_shadow("bob")  # the candidate greets bob differently
    assert blocked.verdict == "block" and blocked.stage_id is not None
    assert greet_then_shadow("carol").stage_id is None  # still block: nothing new kept
    kept = list_stages_of(db_url, kind="shadow")
    assert [(s["verdict"], s["cases"]) for s in kept] == [("block", 2), ("promote", 1)]
    assert kept[0]["stage_id"] == blocked.stage_id
    with Store.open(db_url) as store:
        doc = get_stage(store, blocked.stage_id)["document"]
        assert [r["outcome"] for r in doc["runs"]] == ["same", "changed"]
        # shadow verdicts are for watching: promotable asks for a stage result
        assert promotable(store, "greeter-v2").missing == "stage"
        assert store.verify()["ok"]
