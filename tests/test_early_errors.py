"""Bad arguments and missing files are said before any graph is imported: ``stage``,
``shadow`` and ``replay`` answer a missing or malformed suite, a bad flag or spec, a module
that does not exist, a missing store or an unknown run with one line on stderr and exit 2,
and LangGraph, LangChain and the candidate's module are not in ``sys.modules`` when the
verb is done (each verb runs in a fresh interpreter, as ``lgaudit`` would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_probe import probe_cli

from lgaudit import Store

# the candidate named in the suites and --graph below: it exists and imports LangGraph
CANDIDATE = "tests.stage_graphs"
HEAVY = ("langgraph", "langchain_core", "langchain", CANDIDATE)


def _probe(args: list[str], url: str, cwd: Path) -> dict[str, Any]:
    return probe_cli(args, heavy=HEAVY, url=url, cwd=cwd)


def _suite(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _bad_suites(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """file name -> (TOML text, what the one line must say)."""
    head = f'[suite]\nname = "s"\ngraph = "{CANDIDATE}:payments"\n'
    return {
        "not_toml.toml": ("[suite]\nname = \n", "not valid TOML"),
        "unknown_key.toml": (head + "colour = 1\n", "unknown key suite.colour"),
        "bad_limit.toml": (head + '[traffic]\nlimit = "ten"\n', "traffic.limit must be"),
        "bad_inject.toml": (
            head + '[[scenario]]\nname = "a"\ninput = {}\ninject = ["node@0"]\n',
            "@attempt must be a number",
        ),
        "no_cases.toml": (head, "no cases"),
        "no_module.toml": (
            '[suite]\nname = "s"\ngraph = "no_such_module_x:g"\n[traffic]\n',
            "suite.graph: cannot import module 'no_such_module_x'",
        ),
    }


def _assert_early(result: dict[str, Any], says: str, args: list[str]) -> None:
    lines = result["stderr"].splitlines()
    assert result["code"] == 2, (args, result)
    assert len(lines) == 1 and lines[0].startswith("lgaudit: "), (args, lines)
    assert says in lines[0], (args, lines[0])
    assert result["heavy"] == [], (args, result["heavy"])


def test_stage_and_shadow_reject_bad_suites_before_importing_a_graph(
    db_url: str, tmp_path: Path
) -> None:
    Store(db_url).close()  # an existing store: the suite is what is wrong
    _assert_early(
        _probe(["stage", "missing.toml"], db_url, tmp_path), "'missing.toml' not found", []
    )
    _assert_early(
        _probe(["shadow", "missing.toml"], db_url, tmp_path), "'missing.toml' not found", []
    )
    for name, (text, says) in _bad_suites(tmp_path).items():
        path = _suite(tmp_path, name, text)
        for verb in ("stage", "shadow"):
            args = [verb, path]
            _assert_early(_probe(args, db_url, tmp_path), says, args)
    traffic = _suite(
        tmp_path,
        "traffic.toml",
        f'[suite]\nname = "s"\ngraph = "{CANDIDATE}:payments"\n[traffic]\n',
    )
    scenario = _suite(
        tmp_path,
        "scenario.toml",
        f'[suite]\nname = "s"\ngraph = "{CANDIDATE}:payments"\n'
        '[[scenario]]\nname = "a"\ninput = {}\n',
    )
    for args, says in [
        (["shadow", scenario], "needs a [traffic] table"),
        (["shadow", traffic, "--max-runs", "0"], "--max-runs must be at least 1"),
        (["stage", traffic, "--workers", "0"], "Invalid value for '--workers'"),
        (["stage", traffic, "--graph", "no_such_module_x:g"], "--graph: cannot import module"),
    ]:
        _assert_early(_probe(args, db_url, tmp_path), says, args)
    # a suite with [traffic] on a store that does not exist: said before the import too
    missing = f"sqlite:///{tmp_path}/nothing-here.db"
    for verb in ("stage", "shadow"):
        args = [verb, traffic, "--db", missing]
        _assert_early(_probe(args, db_url, tmp_path), "no lgaudit store", args)
    assert not (tmp_path / "nothing-here.db").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--bogus"], "No such option '--bogus'"),
        (["--cassette", "loose"], "Invalid value for '--cassette'"),
        (["--inject", "node:TimeoutError@0"], "@attempt must be a number >= 1"),
        (["--inject", "node:NoSuchError"], "unknown exception type 'NoSuchError'"),
        (["--swap-model", "gpt"], "malformed --swap-model 'gpt'"),
        (["--swap-model", "gpt=no_such_module_y:m"], "cannot import module 'no_such_module_y'"),
        (["--patch", "{oops"], "malformed --patch: not JSON"),
        (["--from-step", "1", "--from-node", "a"], "give at most one of --from"),
        ([], "unknown run 'abcdef123456'"),
    ],
)
def test_replay_rejects_bad_arguments_and_unknown_runs_before_importing_the_graph(
    db_url: str, tmp_path: Path, extra: list[str], says: str
) -> None:
    Store(db_url).close()
    args = ["replay", "abcdef123456", "--graph", f"{CANDIDATE}:payments", *extra]
    _assert_early(_probe(args, db_url, tmp_path), says, args)


def test_replay_names_a_graph_module_that_does_not_exist(db_url: str, tmp_path: Path) -> None:
    Store(db_url).close()
    args = ["replay", "abcdef123456", "--graph", "no_such_module_z:graph"]
    _assert_early(
        _probe(args, db_url, tmp_path),
        "cannot import module 'no_such_module_z' for graph: No module named 'no_such_module_z'",
        args,
    )
