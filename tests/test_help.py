"""Help matches behaviour: every command has help text, every option a description, every
verb's help states its exit codes, and ``--db`` names ``$LGAUDIT_DB`` and the default
(sqlite-utils walks its commands the same way)."""

from __future__ import annotations

import re
from typing import Any

import click
from click.testing import CliRunner

from lgaudit.cli import cli

# "Exit codes: 0 ..., 1 ..., 2 bad input" or "(exit 0 promote, 1 block, 2 bad input)"
EXIT_CODES = re.compile(r"\bexit(?: codes)?:?\s+0\b.*?\b2\b", re.IGNORECASE | re.DOTALL)


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = [(path, group)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, (path, result.output)
    return result.stdout


def test_every_command_has_help_and_every_option_a_description() -> None:
    commands = _commands(cli)
    assert len(commands) > 15
    missing: list[Any] = []
    for path, command in commands:
        if not (command.help or "").strip():
            missing.append((path, "help text"))
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append((path, param.opts[-1]))
        # what --help prints: each option's description is on its line (none left blank)
        text = _help(path)
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.opts[-1] in text, (path, param.opts)
    assert missing == []


def test_every_verb_states_its_exit_codes() -> None:
    verbs = [(path, c) for path, c in _commands(cli) if not isinstance(c, click.Group)]
    assert {" ".join(p) for p, _ in verbs} >= {"runs", "show", "verify", "replay", "db upgrade"}
    without = [" ".join(path) for path, _ in verbs if not EXIT_CODES.search(_help(path))]
    assert without == []
    assert "Exit codes: 0 listed" in " ".join(_help(("runs",)).split())


def test_db_option_names_the_environment_variable_and_the_default() -> None:
    for path, command in _commands(cli):
        for param in command.params:
            if isinstance(param, click.Option) and "--db" in param.opts:
                assert "$LGAUDIT_DB" in (param.help or ""), path
                assert "sqlite:///lgaudit.db" in (param.help or ""), path
    assert "$LGAUDIT_DB" in _help(("runs",))
    assert "$LGAUDIT_DB" in _help(())
