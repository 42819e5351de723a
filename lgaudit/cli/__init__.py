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
    shadow,
    stage,
    ui,
    verify,
)
from lgaudit.cli._base import cli

__all__ = ["cli"]
