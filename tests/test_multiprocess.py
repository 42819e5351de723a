"""Many processes and threads recording into one store lose nothing and duplicate nothing.

3 processes x 6 threads x 10 runs of the staging demo graph, each run on a thread of its
own, each process with its own batched ``Recorder``, all started together on one fresh
store (so they also race to create its schema on first use). Afterwards the store holds
exactly the 180 runs, all succeeded, each complete and gapless with the same events, and
the hash chain verifies.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from typing import Any

from lgaudit import Store

PROCESSES, THREADS, RUNS = 3, 6, 10

WORKER = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from lgaudit import Recorder
    from lgaudit.demo import STAGING_INPUT, staging

    url, proc, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    recorder = Recorder(url, environment="staging", durability="batched")
    graph = recorder.attach(staging())

    def work(t):
        for r in range(runs):
            out = graph.invoke(dict(STAGING_INPUT),
                               {"configurable": {"thread_id": f"{proc}-{t}-{r}"}})
            assert out["approved"] is True and out["step"] == 2, out

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    recorder.close()
    print(f"{proc}: ok")
    """
)


def test_processes_and_threads_record_into_one_store(db_url: str, tmp_path: Any) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, f"p{p}", str(THREADS), str(RUNS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for p in range(PROCESSES)
    ]
    for p, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, f"process p{p} failed:\n{err[-3000:]}"
        assert out.strip() == f"p{p}: ok"

    expected = {
        f"p{p}-{t}-{r}" for p in range(PROCESSES) for t in range(THREADS) for r in range(RUNS)
    }
    with Store.open(db_url) as store:
        runs = store.runs(limit=None)
        assert len(runs) == PROCESSES * THREADS * RUNS == 180
        assert {r["thread_id"] for r in runs} == expected
        assert Counter(r["status"] for r in runs) == {"succeeded": 180}
        counts = {r["event_count"] for r in runs}
        assert len(counts) == 1, f"runs recorded different numbers of events: {counts}"

        shapes: set[tuple[tuple[str, str], ...]] = set()
        checkpoint_ids: list[str] = []
        for r in runs:
            events = store.events(r["run_id"])
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert {e["thread_id"] for e in events} == {r["thread_id"]}
            kinds = [e["kind"] for e in events]
            assert kinds[0] == "run_start" and kinds[-1] == "run_end"
            assert kinds.count("run_start") == 1 and kinds.count("run_end") == 1
            shapes.add(tuple(sorted((e["kind"], e["node"] or "") for e in events)))
            checkpoint_ids += [e["checkpoint_id"] for e in events if e["kind"] == "checkpoint"]
        # every run recorded the same events: none lost, none written twice
        assert len(shapes) == 1
        (shape,) = shapes
        assert [n for k, n in shape if k == "node_end"] == sorted(["plan", "execute", "review"] * 2)
        assert len(checkpoint_ids) == len(set(checkpoint_ids)), "a checkpoint was recorded twice"

        result = store.verify()
        assert result["ok"], result
        assert result["events_checked"] == 180 * counts.pop()
