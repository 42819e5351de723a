"""The click group, its context object and the error mapping shared by every verb."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lgaudit.errors import LgauditError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
DB_HELP = "Store URL; default $LGAUDIT_DB, else sqlite:///lgaudit.db. Before or after the verb."


class Context:
    """Shared state of one invocation: the store URL chosen by ``--db``."""

    def __init__(self, db: str | None = None) -> None:
        self.db = db

    def open_store(self) -> Any:
        from lgaudit import Store

        return Store.open(self.db)


class LgauditGroup(click.Group):
    """Turns lgaudit's own errors and usage errors into one line on stderr and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.format_message(), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
            click.echo(f"lgaudit: {e.format_message()}{hint}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LgauditError as e:
            click.echo(f"lgaudit: {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # the reader stopped reading (``lgaudit export RUN | head``): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as e:  # noqa: BLE001 - one line, never a traceback
            if os.environ.get("LGAUDIT_DEBUG"):
                raise
            click.echo(f"lgaudit: unexpected {type(e).__name__}: {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.ensure_object(Context).db = value
    return value


def db_option(fn: F) -> F:
    """``--db URL`` on a verb (the group takes it too; the verb's wins)."""
    return click.option(
        "--db",
        "db",
        metavar="URL",
        expose_value=False,
        callback=_set_db,
        is_eager=True,
        help=DB_HELP,
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(fn)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group(cls=LgauditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", metavar="URL", envvar="LGAUDIT_DB", help=DB_HELP)
@click.version_option(package_name="lgaudit")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """lgaudit: the flight recorder for LangGraph — record, replay, diff and audit runs.

    Exit codes: 0 success, 1 findings, differences, a broken chain or a blocked stage,
    2 bad input (one line on stderr). Each verb's --help says what its codes mean.
    """
    obj = ctx.ensure_object(Context)
    if obj.db is None:
        obj.db = db


pass_context = click.make_pass_decorator(Context, ensure=True)
