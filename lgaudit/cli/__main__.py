"""``python -m lgaudit.cli``: the ``lgaudit`` command."""

from lgaudit.cli import cli

cli()
