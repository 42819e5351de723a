"""LangGraph's own test suite with lgaudit in place of LangGraph's checkpointer.

LangGraph's tests ship in its source distribution, not in the wheel; they stay out of this
repository. Fetch the installed version's::

    cd /tmp && pip download --no-deps --no-binary :all: langgraph==1.2.24  # the installed one
    tar xzf langgraph-1.2.24.tar.gz

then (``pip install pytest-mock syrupy pytest-timeout`` first: LangGraph's tests use the
first two, and a test that hangs is cut at ``--timeout`` seconds)::

    python benchmarks/langgraph_suite.py /tmp/langgraph-1.2.24/tests

Each configuration runs in a copy of that ``tests/`` folder whose ``conftest.py`` is
``langgraph_suite_conftest.py`` (beside this file): LangGraph's ``sync_checkpointer``/
``async_checkpointer`` fixtures bound to LangGraph's ``SqliteSaver`` (the reference),
lgaudit's bare checkpointer (SQLite, PostgreSQL), or graphs through ``Recorder.attach``
(SQLite, PostgreSQL; and ``tee-sqlite``: a graph compiled with ``SqliteSaver``, attached).
The report gives passed/failed/skipped per configuration and every test that passes on the
reference but not on a configuration of lgaudit's. Exit 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = "sqlitesaver"
CONFIGS = [REFERENCE, "bare-sqlite", "bare-pg", "attach-sqlite", "attach-pg"]
OPTIONAL = ["tee-sqlite"]
#: the issue's selection: pregel, async pregel, interruption, time travel, subgraph
#: persistence, checkpoint migration, pydantic, large cases
FILES = [
    "test_pregel.py",
    "test_pregel_async.py",
    "test_interruption.py",
    "test_time_travel.py",
    "test_time_travel_async.py",
    "test_subgraph_persistence.py",
    "test_subgraph_persistence_async.py",
    "test_checkpoint_migration.py",
    "test_pydantic.py",
    "test_large_cases.py",
    "test_large_cases_async.py",
]


def _tree(source: Path, files: list[str], into: Path) -> Path:
    """A copy of LangGraph's tests folder: its helpers, the chosen test files, our conftest."""
    tests = into / "tests"
    tests.mkdir()
    for entry in source.iterdir():
        if entry.name.startswith("test_") or entry.name == "conftest.py":
            continue
        if entry.is_dir():
            shutil.copytree(entry, tests / entry.name)
        else:
            shutil.copy2(entry, tests / entry.name)
    for name in files:
        shutil.copy2(source / name, tests / name)
    shutil.copy2(HERE / "langgraph_suite_conftest.py", tests / "conftest.py")
    return tests


def run_config(source: Path, config: str, files: list[str], extra: list[str]) -> dict[str, str]:
    """Each test's outcome (``passed``, ``failed``, ``error``, ``skipped``) in one config."""
    with tempfile.TemporaryDirectory(prefix=f"lgsuite-{config}-") as tmp:
        root = Path(tmp)
        _tree(source, files, root)
        junit = root / "junit.xml"
        env = dict(os.environ, LGSUITE_CONFIG=config)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(root), str(HERE.parent), env.get("PYTHONPATH", "")) if p
        )
        env.setdefault("LGAUDIT_WRITER", "thread")
        cmd = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-o", "asyncio_mode=auto", "--rootdir", str(root), f"--junitxml={junit}",
            *(f"tests/{f}" for f in files), *extra,
        ]  # fmt: skip
        log = root / "pytest.log"
        with open(log, "w") as out:
            subprocess.run(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        tail = log.read_text().splitlines()[-1:] or [""]
        print(f"  {config}: {tail[0]}", file=sys.stderr)
        if not junit.exists():
            print(log.read_text()[-4000:], file=sys.stderr)
            return {}
        return _outcomes(junit)


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                if outcome != "passed" and outcomes.get(name) in ("failed", "error"):
                    outcome = outcomes[name]  # a teardown error after a failure
        if outcomes.get(name) not in ("failed", "error"):
            outcomes[name] = outcome
    return outcomes


def summary(results: dict[str, dict[str, str]]) -> dict[str, object]:
    counts = {
        config: {
            k: sum(1 for v in outcomes.values() if v == k)
            for k in ("passed", "failed", "error", "skipped")
        }
        for config, outcomes in results.items()
    }
    reference = results.get(REFERENCE, {})
    regressions = {
        config: sorted(
            name
            for name, outcome in reference.items()
            if outcome == "passed" and outcomes.get(name) != "passed"
        )
        for config, outcomes in results.items()
        if config != REFERENCE
    }
    return {"counts": counts, "regressions": regressions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", type=Path, help="LangGraph's unpacked tests/ folder")
    parser.add_argument(
        "--config", action="append", choices=CONFIGS + OPTIONAL,
        help=f"configuration(s) to run (default: {', '.join(CONFIGS)})",
    )  # fmt: skip
    parser.add_argument("--file", action="append", help="test file(s) (default: the issue's)")
    parser.add_argument("--json", type=Path, help="write the outcomes and summary here")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test (0: none)")
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]  # the rest goes to pytest
    if args.timeout:
        pytest_args = [f"--timeout={args.timeout}", *pytest_args]
    source: Path = args.tests
    if not (source / "conftest_checkpointer.py").exists():
        print(f"error: {source} is not LangGraph's tests/ folder", file=sys.stderr)
        return 2
    configs = args.config or CONFIGS
    if REFERENCE not in configs:
        configs = [REFERENCE, *configs]
    files = args.file or FILES
    results = {c: run_config(source, c, files, pytest_args) for c in configs}
    report = summary(results)
    for config, c in report["counts"].items():  # type: ignore[union-attr]
        print(
            f"{config:14} passed {c['passed']:4}  failed {c['failed']:3}  "
            f"error {c['error']:3}  skipped {c['skipped']:3}"
        )
    any_regression = False
    for config, names in report["regressions"].items():  # type: ignore[union-attr]
        if names:
            any_regression = True
            print(f"\npass on {REFERENCE}, not on {config} ({len(names)}):")
            for name in names:
                print(f"  {name}")
    if args.json:
        args.json.write_text(json.dumps({"outcomes": results, **report}, indent=2))
    return 1 if any_regression else 0


if __name__ == "__main__":
    sys.exit(main())
