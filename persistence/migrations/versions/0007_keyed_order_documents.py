"""keyed order documents: orders.doc and credit_memos.lines from positional arrays to version 2

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 19:30:00.000000

Until now an order's lines, shipments, charges, payment, invoices and return lines, and a
credit memo's lines, were stored as arrays whose meaning was their position (version 1, no
"v" key). This rewrites every such row as the keyed document the writer writes (version
2 when this migration was written; run by a later release, its upgrade goes on to that
release's version), with persistence/documents.py's upgrade (the same code the reader uses
on a version 1 row), in batches of `BATCH` rows by primary key so that memory stays flat on any
table size. The order's version and updated_at are not touched: the order did not change,
only how it is stored. Rows already keyed (any version) are left as they are, so running it again
or after new rows arrived is harmless; a row a worker of the previous release writes after
this ran is version 1 again, which the reader still takes and the next save rewrites.

A row that cannot be read without guessing (an unknown field, an array of a length no
release wrote) stops the migration with DocumentError naming the order or memo and the field.

Downgrade converts the rows back to version 1 as the previous release wrote it (17-field
lines, discounts as [per unit, units] pairs), so that release can read them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from persistence.documents import (
    credit_memo_as_v1,
    order_as_v1,
    upgrade_credit_memo,
    upgrade_order,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Rows read and rewritten per round trip.
BATCH = 500

Convert = Callable[[dict[str, Any], str], dict[str, Any]]


def upgrade() -> None:
    # Only the unversioned (release 1) documents: a later release's versions stay as they are.
    _rewrite("orders", "doc", "order", upgrade_order, lambda v: v is None)
    _rewrite("credit_memos", "lines", "credit memo", upgrade_credit_memo, lambda v: v is None)


def downgrade() -> None:
    _rewrite("orders", "doc", "order", order_as_v1, lambda v: v is not None)
    _rewrite("credit_memos", "lines", "credit memo", credit_memo_as_v1, lambda v: v is not None)


def _rewrite(
    table: str, column: str, what: str, convert: Convert, due: Callable[[object], bool]
) -> None:
    """Rewrite `column` of every row whose document version (None: version 1) is `due`."""
    conn = op.get_bind()
    select = sa.text(f"SELECT id, {column} FROM {table} WHERE id > :after ORDER BY id LIMIT :batch")
    update = sa.text(f"UPDATE {table} SET {column} = CAST(:doc AS jsonb) WHERE id = :id")
    after = ""
    while True:
        rows = conn.execute(select, {"after": after, "batch": BATCH}).all()
        if not rows:
            return
        changed = []
        for row_id, stored in rows:
            if due(stored.get("v") if isinstance(stored, dict) else None):
                new = convert(stored, f"{what} {row_id}")
                changed.append({"id": row_id, "doc": orjson.dumps(new).decode()})
        if changed:
            conn.execute(update, changed)
        after = rows[-1][0]
