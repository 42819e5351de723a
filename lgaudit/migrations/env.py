"""Alembic environment, driven from code by ``lgaudit.store.migrate`` (no alembic.ini)."""

from __future__ import annotations

from typing import cast

from alembic import context

from lgaudit.store.tables import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=lambda name, type_, parent: (
        type_ != "table" or cast(str, name).startswith("lgaudit_")
    ),
)
with context.begin_transaction():
    context.run_migrations()
