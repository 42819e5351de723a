"""``lgaudit db upgrade|current``: the store's schema (Alembic migrations in the package)."""

from __future__ import annotations

import click

from lgaudit.cli._base import Context, cli, db_option, emit_json, json_option, pass_context


@cli.group()
def db() -> None:
    """Schema of the store: upgrade it, show its revision."""


@db.command()
@db_option
@pass_context
def upgrade(obj: Context) -> None:
    """Bring the store's schema to this lgaudit's head revision.

    Exit codes: 0 at head, 2 bad input (not an lgaudit store, or one ahead of this lgaudit).
    """
    from lgaudit import Store

    revision = Store.upgrade(obj.db)
    click.echo(f"lgaudit store at revision {revision} (head)")


@db.command()
@db_option
@json_option
@pass_context
def current(obj: Context, as_json: bool) -> None:
    """Show the store's schema revision and this lgaudit's head.

    Exit codes: 0 shown (at head or not), 2 bad input (the store cannot be read).
    """
    from lgaudit import Store

    info = Store.revision(obj.db)
    if as_json:
        emit_json(info)
    else:
        state = "head" if info["current"] == info["head"] else "not at head"
        click.echo(f"{info['current'] or 'none'} ({state}; head is {info['head']})")
