"""SQLite: an insert may not replace a recorded row (``INSERT OR REPLACE`` / ``REPLACE``).

SQLite's REPLACE conflict resolution deletes the conflicting row without firing DELETE
triggers (unless ``recursive_triggers`` is on in that connection), so it bypassed the
triggers of ``0002``. These BEFORE INSERT triggers refuse an insert that collides with an
existing row on any key. For runs and blobs, which lgaudit inserts with ``ON CONFLICT DO
NOTHING``, a colliding insert is skipped instead (the existing row is kept), and a blob
whose content differs from the stored one under the same address is refused. PostgreSQL
needs nothing: ``ON CONFLICT DO UPDATE`` fires the UPDATE triggers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Names the collision so lgaudit's own writer can tell a stale chain head (re-append on the
#: new head) from an attempt to overwrite history; either way nothing is replaced.
_MESSAGE = (
    "lgaudit: insert into {table} collides with a recorded row: recorded rows are append-only"
)

#: Every key (primary key or unique constraint) of each table, as columns.
_KEYS: dict[str, list[tuple[str, ...]]] = {
    "lgaudit_events": [("gseq",), ("prev_hash",), ("hash",), ("run_id", "seq")],
    "lgaudit_checkpoints": [("gseq",)],
    "lgaudit_channel_values": [("gseq", "channel")],
    "lgaudit_writes": [("gseq", "position")],
    "lgaudit_tombstones": [("gseq",)],
}


def _collides(table: str, keys: list[tuple[str, ...]]) -> str:
    match = " OR ".join("(" + " AND ".join(f"o.{c} = NEW.{c}" for c in key) + ")" for key in keys)
    return f"EXISTS (SELECT 1 FROM {table} AS o WHERE {match})"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, keys in _KEYS.items():
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN {_collides(table, keys)} "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE.format(table=table)}'); END"
        )
    op.execute(
        "CREATE TRIGGER lgaudit_runs_no_replace BEFORE INSERT ON lgaudit_runs "
        "WHEN EXISTS (SELECT 1 FROM lgaudit_runs AS o WHERE o.run_id = NEW.run_id) "
        "BEGIN SELECT RAISE(IGNORE); END"
    )
    op.execute(
        "CREATE TRIGGER lgaudit_blobs_no_replace BEFORE INSERT ON lgaudit_blobs "
        "WHEN EXISTS (SELECT 1 FROM lgaudit_blobs AS o WHERE o.hash = NEW.hash "
        "AND (o.type IS NOT NEW.type OR o.data IS NOT NEW.data)) "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE.format(table='lgaudit_blobs')}'); END"
    )
    op.execute(
        "CREATE TRIGGER lgaudit_blobs_no_duplicate BEFORE INSERT ON lgaudit_blobs "
        "WHEN EXISTS (SELECT 1 FROM lgaudit_blobs AS o WHERE o.hash = NEW.hash "
        "AND o.type IS NEW.type AND o.data IS NEW.data) "
        "BEGIN SELECT RAISE(IGNORE); END"
    )


def downgrade() -> None:
    raise NotImplementedError("lgaudit's recorded history is append-only: no downgrade")
