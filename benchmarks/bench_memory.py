"""Memory benchmark: the recorder's cost on a long-term-memory-heavy loop.

One node loops for ``--steps`` super-steps; each step it ``put``s a fact into the user's
namespace of LangGraph's ``InMemoryStore`` (50 keys, overwritten in turn) and ``search``es
that namespace (up to 10 items back): one ``memory_write`` and one ``memory_read`` event per
step when recorded. Timed (median of ``--reps``, a fresh database each): one ``invoke`` of

* **bare**: the graph as compiled (``compile(store=InMemoryStore())``, no checkpointer);
* **recorded**: ``Recorder(url).attach(graph)`` (checkpointer, callback and the recording
  store; ``recorder.flush()`` inside the timer, so every event is in the store);

for the memory loop and for the same loop with no store calls (``no-memory``), so that the
recorder's cost of memory alone is the difference of the two recorder costs.

    python -m benchmarks.bench_memory --reps 5
    python -m benchmarks.bench_memory --backend sqlite --steps 100
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from benchmarks.bench_audit import database
from lgaudit import Recorder

KEYS = 50


class LoopState(TypedDict):
    step: int
    recalled: int


def build(steps: int, memory: bool) -> Any:
    def remember(state: LoopState, *, store: BaseStore) -> dict[str, int]:
        found = 0
        if memory:
            namespace = ("user-1", "memories")
            store.put(
                namespace,
                f"fact-{state['step'] % KEYS}",
                {
                    "data": f"fact {state['step']}: the user prefers short answers",
                    "n": state["step"],
                },
            )
            found = len(store.search(namespace, limit=10))
        return {"step": state["step"] + 1, "recalled": found}

    builder = StateGraph(LoopState)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_conditional_edges("remember", lambda s: END if s["step"] >= steps else "remember")
    return builder.compile(store=InMemoryStore())


def once(backend: str, steps: int, memory: bool, recorded: bool) -> float:
    config = {
        "configurable": {"thread_id": "bench", "user_id": "user-1"},
        "recursion_limit": steps + 10,
    }
    graph = build(steps, memory)
    gc.collect()
    if not recorded:
        start = time.perf_counter()
        graph.invoke({"step": 0, "recalled": 0}, config)
        return time.perf_counter() - start
    with database(backend) as url, Recorder(url) as rec:
        attached = rec.attach(graph)
        rec.sink.start_process()  # setup, like opening a connection
        start = time.perf_counter()
        attached.invoke({"step": 0, "recalled": 0}, config)
        rec.flush()
        elapsed = time.perf_counter() - start
        run = rec.store.runs(limit=1)[0]
        kinds = [e["kind"] for e in rec.store.events(run["run_id"])]
    want = steps if memory else 0
    assert kinds.count("memory_write") == want and kinds.count("memory_read") == want, kinds
    return elapsed


def medians(backend: str, steps: int, reps: int) -> dict[tuple[bool, bool], float]:
    """Median time of each variant, (memory, recorded) -> seconds; the four variants run in
    turn within each repetition, so that load from elsewhere weighs on all of them alike."""
    variants = [(m, r) for m in (True, False) for r in (False, True)]
    times: dict[tuple[bool, bool], list[float]] = {v: [] for v in variants}
    for _ in range(reps):
        for memory, recorded in variants:
            times[(memory, recorded)].append(once(backend, steps, memory, recorded))
    return {v: statistics.median(t) for v, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    n = args.steps
    print(
        "| backend | loop | bare | recorded | recorder's cost per step | ratio |\n"
        "|---|---|---|---|---|---|"
    )
    for backend in backends:
        costs = {}
        timed = medians(backend, n, args.reps)
        for memory in (True, False):
            bare, rec = timed[(memory, False)], timed[(memory, True)]
            costs[memory] = (rec - bare) / n
            label = f"{'memory' if memory else 'no-memory'}, {n} steps"
            print(
                f"| {backend} | {label} | {bare * 1e3:.1f} ms | {rec * 1e3:.1f} ms | "
                f"{costs[memory] * 1e3:.3f} ms | {rec / bare:.2f}x |",
                flush=True,
            )
        print(
            f"| {backend} | memory events alone (put + search) | | | "
            f"{(costs[True] - costs[False]) * 1e3:.3f} ms | |",
            flush=True,
        )


if __name__ == "__main__":
    main()
