"""The database's own append-only guard for a recorded table added after migration 0003:
what 0002 (UPDATE, DELETE and TRUNCATE refused) and 0003 (SQLite: no INSERT OR REPLACE
over a recorded row) do for the first tables. Rows are keyed by ``gseq``."""

from __future__ import annotations

from alembic import op

_REFUSED = "recorded rows are append-only"


def append_only(table: str) -> None:
    """Create the triggers that refuse changing or removing ``table``'s rows."""
    if op.get_bind().dialect.name == "postgresql":  # lgaudit_refuse_change: migration 0002
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION lgaudit_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION lgaudit_refuse_change()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'lgaudit: {operation} on {table} refused: "
            f"{_REFUSED}'); END"
        )
    op.execute(
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} AS o WHERE o.gseq = NEW.gseq) "
        f"BEGIN SELECT RAISE(ABORT, 'lgaudit: insert into {table} collides with a "
        f"recorded row: {_REFUSED}'); END"
    )
