"""The ``lgaudit`` command: a click group, one small module per verb group.

Every verb is a thin layer over the public API. ``--db URL`` (or ``$LGAUDIT_DB``, default
``sqlite:///lgaudit.db``) selects the store, before or after the verb. Bad input — an
unknown run, a malformed spec, a store that is not lgaudit's — prints one line on stderr and
exits 2; findings and differences exit 1.
"""

from __future__ import annotations

from lgaudit.cli import (  # noqa: F401  (registers the verbs)
    audit,
    db,
    demo,
    kill,
    replay,
    runs,
    stage,
    verify,
)
from lgaudit.cli._base import LazyVerb, cli

# imports LangGraph at module level: loaded only when it runs, so the other verbs start fast
cli.add_command(
    LazyVerb(
        "shadow",
        "lgaudit.cli.shadow",
        help="Replay each new recorded run the suite's [traffic] matches on the candidate "
        "(tools always from the recording), diff it against its source, keep a rolling verdict.",
    )
)

__all__ = ["cli"]
