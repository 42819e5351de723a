"""Replay: cassette, swaps, faults, forks, subgraphs, Send, interrupts, async — both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest
import replay_graphs as rg
from click.testing import CliRunner

from lgaudit import BadInputError, Recorder, Store, replay
from lgaudit.cli import cli
from lgaudit.demo import AGENT_INPUT, agent


def record(db_url: str, graph: Any, inputs: Any, thread: str, **config: Any) -> str:
    """Record one run of ``graph`` and return its run id."""
    with Recorder(db_url) as rec:
        rec.attach(graph).invoke(inputs, {"configurable": {"thread_id": thread}, **config})
        rec.flush()
        return rec.store.runs(thread_id=thread, limit=1)[0]["run_id"]


def course(store: Store, run_id: str, *, after_step: int = -99) -> list[tuple[Any, ...]]:
    """What a run did after a step: nodes, model answers, tool results, in step order."""
    out = []
    for e in store.show(run_id)["events"]:
        if (e["step"] is None or e["step"] <= after_step) or e["kind"] not in (
            "node_end",
            "llm_end",
            "tool_end",
            "node_error",
        ):
            continue
        p = e["payload"]
        what = p.get("output") if e["kind"] != "llm_end" else p.get("generations")
        out.append((e["step"], e["kind"], e["node"], _content(what)))
    return sorted(out, key=lambda t: (t[0], t[1], t[2] or "", str(t[3])))


def _content(value: Any) -> Any:
    if isinstance(value, dict):
        if "content" in value and "type" in value:
            return (
                value["content"],
                [(c["name"], c["args"]) for c in value.get("tool_calls") or []],
            )
        return {k: _content(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_content(v) for v in value]
    return value


def checkpoint_at(store: Store, run_id: str, step: int, ns: str = "") -> str:
    return next(
        c["checkpoint_id"]
        for c in store.events(run_id, kinds=["checkpoint"])
        if c["step"] == step and (c["checkpoint_ns"] or "") == ns
    )


def test_strict_replay_from_a_mid_checkpoint_makes_no_live_call(db_url: str) -> None:
    original = record(db_url, rg.agent(), rg.AGENT_INPUT, "weather")
    store = Store.open(db_url)
    mid = checkpoint_at(store, original, 2)  # after the first tool result
    rg.CALLS.clear()
    result = replay(original, graph="replay_graphs:agent", url=db_url, from_checkpoint=mid)
    assert (rg.CALLS["model"], rg.CALLS["tool"]) == (0, 0)
    assert result.status == "succeeded" and result.live_calls == 0
    assert result.parent_run_id == original and result.from_checkpoint == mid
    assert course(store, result.run_id) == course(store, original, after_step=2)
    same = CliRunner().invoke(cli, ["diff", original, result.run_id, "--db", db_url, "--json"])
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["identical"] is True
    reverse = CliRunner().invoke(cli, ["diff", result.run_id, original, "--db", db_url])
    assert reverse.exit_code == 0, reverse.output  # either order: from the fork point
    replayed = store.run(result.run_id)
    assert replayed["parent_run_id"] == original and replayed["replay"]["cassette"] == "strict"
    # the original thread's history is untouched
    assert store.runs(thread_id="weather", limit=None)[0]["run_id"] == original
    served = [
        e["payload"]["served_by"]
        for e in store.show(result.run_id)["events"]
        if e["kind"] == "llm_end"
    ]
    assert served == ["cassette", "cassette"]
    assert store.verify()["ok"]


def test_cassette_off_calls_live_and_lenient_serves_recorded(db_url: str) -> None:
    original = record(db_url, rg.agent(), rg.AGENT_INPUT, "modes")
    rg.CALLS.clear()
    off = replay(original, graph="replay_graphs:agent", url=db_url, cassette="off")
    assert off.status == "succeeded" and rg.CALLS["model"] == 3 and rg.CALLS["tool"] == 2
    rg.CALLS.clear()
    lenient = replay(original, graph="replay_graphs:agent", url=db_url, cassette="lenient")
    assert lenient.status == "succeeded" and rg.CALLS["model"] == 0 and rg.CALLS["tool"] == 0


def test_injected_timeout_on_first_attempt_is_recovered_by_retry(db_url: str) -> None:
    original = record(db_url, rg.retry_graph(), {"log": []}, "retry")
    store = Store.open(db_url)
    recovered = replay(
        original,
        graph="replay_graphs:retry_graph",
        url=db_url,
        faults=["fetch:TimeoutError:upstream slow@1"],
    )
    assert recovered.status == "succeeded" and recovered.faults_injected == 1
    events = store.events(recovered.run_id)
    (err,) = [e for e in events if e["kind"] == "node_error"]
    assert err["node"] == "fetch" and err["payload"]["attempt"] == 1
    assert err["payload"]["error"] == {
        "type": "TimeoutError",
        "module": "builtins",
        "message": "upstream slow",
        "injected": True,
    }
    (end,) = [e for e in events if e["kind"] == "node_end" and e["node"] == "fetch"]
    assert end["payload"]["attempt"] == 2
    failed = replay(
        original, graph="replay_graphs:retry_graph", url=db_url, faults=["fetch:TimeoutError"]
    )
    assert failed.status == "failed" and "TimeoutError" in (failed.error or "")
    assert store.run(failed.run_id)["status"] == "failed"
    attempts = [
        e["payload"]["attempt"] for e in store.events(failed.run_id) if e["kind"] == "node_error"
    ]
    assert attempts == [1, 2, 3]


def test_a_fault_on_the_first_try_of_a_retried_call_is_recovered_strictly(
    db_url: str,
) -> None:
    """``@1`` fails the first try of a call, whether the node retries (LangGraph's retry
    policy) or the model retries by itself (``with_retry``); the retry is answered from
    the cassette like the recorded call it repeats."""
    cases = {
        "retrying_tool_graph": ({"log": []}, "tool:lookup:TimeoutError@1", "tool"),
        "retrying_model_graph": (rg.AGENT_INPUT, "llm:gpt-4o:TimeoutError@1", "llm"),
    }
    for name, (inputs, fault, kind) in cases.items():
        original = record(db_url, getattr(rg, name)(), inputs, name)
        store = Store.open(db_url)
        rg.CALLS.clear()
        res = replay(original, graph=f"replay_graphs:{name}", url=db_url, faults=[fault])
        assert res.status == "succeeded", (name, res.error)
        assert res.faults_injected == 1 and res.live_calls == 0, name
        assert rg.CALLS["tool"] == rg.CALLS["model"] == 0, name
        calls = [e["kind"] for e in store.events(res.run_id) if e["kind"].startswith(f"{kind}_")]
        assert calls == [f"{kind}_start", f"{kind}_error", f"{kind}_start", f"{kind}_end"], name
        assert course(store, res.run_id)[-1] == course(store, original)[-1], name


def test_a_recorded_failure_fails_again_as_itself_and_the_retry_recovers(db_url: str) -> None:
    """A tool call that failed in the recording (a ``ValueError`` the node's retry policy
    retries on) raises a ``ValueError`` with the same message when served again: the
    strict replay of the successful run succeeds like the run did, without a live call."""
    rg.FLAKY["calls"] = 0
    original = record(db_url, rg.flaky_tool_graph(), {"log": []}, "flaky")
    store = Store.open(db_url)
    assert [
        e["payload"]["error"]["type"] for e in store.events(original, kinds=["tool_error"])
    ] == ["ValueError"]
    rg.CALLS.clear()
    res = replay(original, graph="replay_graphs:flaky_tool_graph", url=db_url)
    assert res.status == "succeeded" and res.live_calls == 0, res.error
    assert rg.CALLS["flaky"] == 0
    diff = CliRunner().invoke(cli, ["diff", original, res.run_id, "--db", db_url])
    assert diff.exit_code == 0, diff.output


def test_llm_and_tool_faults(db_url: str) -> None:
    original = record(db_url, rg.agent(), rg.AGENT_INPUT, "llm-fault")
    store = Store.open(db_url)
    res = replay(
        original,
        graph="replay_graphs:agent",
        url=db_url,
        faults=["llm:gpt-4o:ConnectionError:provider down"],
    )
    assert res.status == "failed"
    (err,) = [e for e in store.events(res.run_id) if e["kind"] == "llm_error"]
    assert err["payload"]["model"] == "gpt-4o" and err["payload"]["error"]["injected"]
    res = replay(original, graph="replay_graphs:agent", url=db_url, faults=["tool:lookup"])
    tool_errors = [e for e in store.events(res.run_id) if e["kind"] == "tool_error"]
    assert tool_errors and tool_errors[0]["payload"]["tool"] == "lookup"


def test_swapped_model_answer_shows_and_divergence_is_at_the_agent(db_url: str) -> None:
    original = record(db_url, rg.agent(), rg.AGENT_INPUT, "swap")
    store = Store.open(db_url)
    rg.CALLS.clear()
    res = replay(
        original,
        graph="replay_graphs:agent",
        url=db_url,
        swaps=["gpt-4o=replay_graphs:cheap_model"],
    )
    assert res.status == "succeeded" and res.swaps == {"gpt-4o": "replay_graphs:cheap_model"}
    assert rg.CALLS["model:cheap-model"] == 1 and rg.CALLS["model:gpt-4o"] == 0
    ends = [e for e in store.show(res.run_id)["events"] if e["kind"] == "llm_end"]
    assert ends[0]["payload"]["served_by"] == "swap:replay_graphs:cheap_model"
    # the calls are recorded under the model that answered, and say which one it replaced
    assert {e["payload"]["model"] for e in ends} == {"cheap-model"}
    assert {e["payload"]["swapped_from"] for e in ends} == {"gpt-4o"}
    assert res.live_calls == rg.CALLS["model:cheap-model"]  # the substitute answered live
    starts = [e for e in store.events(res.run_id) if e["kind"] == "llm_start"]
    assert {(e["payload"]["model"], e["payload"]["swapped_from"]) for e in starts} == {
        ("cheap-model", "gpt-4o")
    }
    assert ends[0]["payload"]["generations"][0]["content"] == "I am the cheap model."
    differ = CliRunner().invoke(cli, ["diff", original, res.run_id, "--db", db_url, "--json"])
    assert differ.exit_code == 1
    first = json.loads(differ.stdout)["first_divergence"]
    assert (first["node"], first["step"], first["kind"]) == ("agent", 1, "llm")
    first_a, first_b = course(store, original)[0], course(store, res.run_id)[0]
    assert first_a[:3] == first_b[:3] == (1, "llm_end", "agent") and first_a[3] != first_b[3]


def test_strict_miss_names_the_unrecorded_call(db_url: str) -> None:
    original = record(db_url, rg.agent(), rg.AGENT_INPUT, "miss")
    res = replay(
        original,
        graph="replay_graphs:agent",
        url=db_url,
        patch={"messages": [{"role": "user", "content": "And in Tromsø?"}]},
    )
    assert res.status == "failed"
    assert "cassette miss (strict)" in (res.error or "")
    assert "model 'gpt-4o' call #1 in agent@step" in (res.error or "")
    assert "nearest recorded" in (res.error or "")
    kinds = [e["kind"] for e in Store.open(db_url).events(res.run_id)]
    assert "state_update" in kinds and kinds[-1] == "run_error"


def test_a_patched_fork_replays_strictly_and_differs_only_by_the_patch(db_url: str) -> None:
    """A patch is a step of its own in LangGraph: the replay still finds every recorded
    call, and the diff shows the patched value at the fork step, not every later step off
    by one."""
    original = record(db_url, rg.budgeted_agent(), {**rg.AGENT_INPUT, "budget": 1}, "patched")
    rg.CALLS.clear()
    res = replay(
        original,
        graph="replay_graphs:budgeted_agent",
        url=db_url,
        from_step=1,
        patch={"budget": 5},
    )
    assert res.status == "succeeded", res.error
    assert res.live_calls == 0 and rg.CALLS["model"] == rg.CALLS["tool"] == 0
    store = Store.open(db_url)
    assert course(store, res.run_id, after_step=2) == [
        (step + 1, kind, node, what)
        for step, kind, node, what in course(store, original, after_step=1)
    ]
    differ = CliRunner().invoke(cli, ["diff", original, res.run_id, "--db", db_url, "--json"])
    assert differ.exit_code == 1, differ.output
    data = json.loads(differ.stdout)
    first = data["first_divergence"]
    assert (first["step"], first["kind"], first["a"], first["b"]) == (1, "state", 1, 5), first
    assert "budget" in str(first["path"])
    # by default a patch applies to the state the input made (the input checkpoint has none)
    rg.CALLS.clear()
    default = replay(
        original, graph="replay_graphs:budgeted_agent", url=db_url, patch={"budget": 7}
    )
    assert default.status == "succeeded" and default.from_step == 0, default.error
    assert default.live_calls == 0 and rg.CALLS["model"] == 0
    (values,) = [
        e["payload"]["values"]
        for e in store.show(default.run_id)["events"]
        if e["kind"] == "checkpoint" and e["payload"].get("source") == "update"
    ]
    assert values["budget"] == 7 and values["messages"]  # the input is still there
    with pytest.raises(BadInputError, match="input checkpoint"):
        replay(original, graph="replay_graphs:budgeted_agent", url=db_url, from_step=-1,
               patch={"budget": 7})  # fmt: skip
    kinds = {
        d.get("kind") for s in data["steps"] for d in s.get("differences", []) if s["step"] > 1
    }
    assert kinds <= {"state"}, data["steps"]  # later steps differ only by the budget


def test_replay_from_subgraph_checkpoint_resumes_inside_it(db_url: str) -> None:
    original = record(db_url, rg.subgraph_graph(), {"log": []}, "nested")
    store = Store.open(db_url)
    inner = [c for c in store.events(original, kinds=["checkpoint"]) if c["checkpoint_ns"]]
    after_a = next(c for c in inner if c["step"] == 1)  # inner_a has run, inner_b is next
    rg.CALLS.clear()
    res = replay(
        original,
        graph="replay_graphs:subgraph_graph",
        url=db_url,
        from_checkpoint=after_a["checkpoint_id"][:20],
    )
    assert res.status == "succeeded" and res.checkpoint_ns.startswith("sub:")
    assert (rg.CALLS["before"], rg.CALLS["inner_a"]) == (0, 0)
    assert (rg.CALLS["inner_b"], rg.CALLS["inner_c"], rg.CALLS["after"]) == (1, 1, 1)
    nodes = [e["node"] for e in store.events(res.run_id) if e["kind"] == "node_start"]
    assert nodes == ["sub", "inner_b", "inner_c", "after"]


def test_send_fan_out_replays_strictly(db_url: str) -> None:
    original = record(
        db_url, rg.fan_graph(), {"cities": ["Oslo", "Bergen", "Tromsø"], "reports": []}, "fan"
    )
    rg.CALLS.clear()
    res = replay(original, graph="replay_graphs:fan_graph", url=db_url)
    assert res.status == "succeeded" and rg.CALLS["tool"] == 0
    store = Store.open(db_url)
    assert course(store, res.run_id) == course(store, original)


def test_interrupt_after_the_replay_point_fires_again(db_url: str) -> None:
    with Recorder(db_url) as rec:
        graph = rec.attach(agent())
        config = {"configurable": {"thread_id": "approval"}}
        graph.invoke(dict(AGENT_INPUT), config)
        from langgraph.types import Command

        graph.invoke(Command(resume="approve"), config)
        rec.flush()
        resumed = rec.store.runs(thread_id="approval", limit=1)[0]["run_id"]
        interrupted = rec.store.runs(thread_id="approval", limit=2)[1]["run_id"]
    res = replay(interrupted, graph="lgaudit.demo:agent", url=db_url)
    assert res.status == "interrupted"
    # the checkpoint before human_review holds the resume recorded by the second run:
    # replaying from it, the interrupt fires again instead of taking that stale resume
    before_gate = checkpoint_at(Store.open(db_url), interrupted, 1)
    res = replay(interrupted, graph="lgaudit.demo:agent", url=db_url, from_checkpoint=before_gate)
    assert res.status == "interrupted"
    assert Store.open(db_url).run(resumed)["status"] == "succeeded"
    # the resumed run replays from where it resumed, with the human's recorded answer:
    # the gate runs again, takes "approve", and the rest follows as recorded
    again = replay(resumed, graph="lgaudit.demo:agent", url=db_url)
    assert again.status == "succeeded" and again.live_calls == 0, again.error
    assert again.from_step == 1  # the interrupted run's checkpoint before the gate
    store = Store.open(db_url)
    events = store.events(again.run_id)
    assert [e["payload"]["value"] for e in events if e["kind"] == "resume"] == ["approve"]
    assert "human_review" in [e["node"] for e in events if e["kind"] == "node_start"]
    differ = CliRunner().invoke(cli, ["diff", resumed, again.run_id, "--db", db_url])
    assert differ.exit_code == 0, differ.output


async def test_async_graph_replay(db_url: str) -> None:
    with Recorder(db_url) as rec:
        await rec.attach(rg.async_graph()).ainvoke(
            rg.AGENT_INPUT, {"configurable": {"thread_id": "async"}}
        )
        rec.flush()
        original = rec.store.runs(thread_id="async", limit=1)[0]["run_id"]
    rg.CALLS.clear()
    import asyncio

    res = await asyncio.to_thread(replay, original, graph="replay_graphs:async_graph", url=db_url)
    assert res.status == "succeeded" and rg.CALLS["model"] == 0


def test_cli_replay_json_is_the_only_thing_on_stdout(db_url: str) -> None:
    """The graph's own prints go to stderr while ``--json`` prints its document."""
    original = record(db_url, rg.noisy_graph(), {"log": []}, "noisy")
    res = CliRunner().invoke(
        cli, ["replay", original, "--graph", "replay_graphs:noisy_graph", "--db", db_url, "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "succeeded"
    assert "debug: node ran" in res.stderr


def test_cli_replay_json_and_bad_input(db_url: str) -> None:
    original = record(db_url, rg.agent(), rg.AGENT_INPUT, "cli")
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        [
            "replay",
            original[:8],
            "--graph",
            "replay_graphs:agent",
            "--db",
            db_url,
            "--from-step",
            "2",
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert {
        "run_id",
        "parent_run_id",
        "from_checkpoint",
        "status",
        "cassette",
        "swaps",
        "faults",
    } <= set(data) and data["status"] == "succeeded"
    before = len(Store.open(db_url).runs(limit=None))
    bad = {
        "unknown module": ["--graph", "no_such_module:graph"],
        "unknown attribute": ["--graph", "replay_graphs:nope"],
        "unknown checkpoint": ["--graph", "replay_graphs:agent", "--from", "ffffffff"],
        "unknown exception": ["--graph", "replay_graphs:agent", "--inject", "agent:NoSuchError"],
        "malformed inject": ["--graph", "replay_graphs:agent", "--inject", "agent@x"],
        "malformed patch": ["--graph", "replay_graphs:agent", "--patch", "{not json"],
        "patch not object": ["--graph", "replay_graphs:agent", "--patch", "[1, 2]"],
        "malformed swap": ["--graph", "replay_graphs:agent", "--swap-model", "gpt-4o"],
        "unknown step": ["--graph", "replay_graphs:agent", "--from-step", "99"],
        "unknown node": ["--graph", "replay_graphs:agent", "--from-node", "nobody"],
        # a typo in what to inject, swap or patch must not pass as a replay that did nothing
        "fault at no node": ["--graph", "replay_graphs:agent", "--inject", "agnet:TimeoutError"],
        "fault at no tool": ["--graph", "replay_graphs:agent", "--inject", "tool:lokup"],
        "fault at no model": ["--graph", "replay_graphs:agent", "--inject", "llm:gpt-4"],
        "swap of no model": [
            "--graph",
            "replay_graphs:agent",
            "--swap-model",
            "gpt4o=replay_graphs:cheap_model",
        ],
        "patch of no key": ["--graph", "replay_graphs:agent", "--patch", '{"mesages": []}'],
    }
    for what, args in bad.items():
        res = runner.invoke(cli, ["replay", original, "--db", db_url, *args])
        assert res.exit_code == 2, (what, res.output)
        assert len(res.stderr.strip().splitlines()) == 1, (what, res.stderr)
        assert "Traceback" not in res.output
    assert len(Store.open(db_url).runs(limit=None)) == before
    assert Store.open(db_url).verify()["ok"]
    agent_replay = ["replay", original, "--db", db_url, "--graph", "replay_graphs:agent"]
    typo = runner.invoke(cli, [*agent_replay, "--inject", "tool:lokup"])
    assert "no tool named 'lokup' (tools: lookup)" in typo.stderr
    swap = ["--swap-model", "gpt-4o=replay_graphs:cheap_model"]
    # a substitute's own name is a model that can fail
    swapped = runner.invoke(cli, [*agent_replay, *swap, "--inject", "llm:cheap-model", "--json"])
    assert swapped.exit_code == 1, swapped.output  # the replay failed: the fault fired
    assert json.loads(swapped.stdout)["faults_injected"] == 1
    # ... and so does the name of the model it replaced
    by_original = runner.invoke(cli, [*agent_replay, *swap, "--inject", "llm:gpt-4o", "--json"])
    assert json.loads(by_original.stdout)["faults_injected"] == 1, by_original.output
