"""retention: the age indexes `ordercare prune` selects its batches by

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:00:00.000000

Each prune batch is `... WHERE <age> < cutoff LIMIT n`: without an index on the age column
that is a sequential scan of the whole table per batch (10 million inbox rows: seconds per
batch). The partial inbox index holds only the rows that still keep a rejected body, so the
redaction step (and the erasure's search of kept bodies) reads those alone.

On a large existing database, build these by hand first with CREATE INDEX CONCURRENTLY
under the same names; this migration then only checks they exist (IF NOT EXISTS).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_inbox_received_at", "inbox", "(received_at)", ""),
    ("ix_inbox_raw_received_at", "inbox", "(received_at)", " WHERE raw IS NOT NULL"),
    ("ix_dead_letters_received_at", "dead_letters", "(received_at)", ""),
    ("ix_notifications_created_at", "notifications", "(created_at)", ""),
    ("ix_audit_log_at", "audit_log", "(at)", ""),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns}{where}")


def downgrade() -> None:
    for name, _table, _columns, _where in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
