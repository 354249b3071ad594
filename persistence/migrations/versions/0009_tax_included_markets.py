"""markets: tax-included prices per currency, each order's price terms, invoice lines

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:30:00.000000

`markets` holds one row per currency whose prices differ from the default (tax-exclusive):
`prices_include_tax` true means catalogue prices, fees and appeasements in that currency are
what the customer pays, tax included. No row is seeded, so every currency keeps meaning what
it meant.

`orders.tax_included` fixes an order's price terms when it is placed; every existing order
was priced tax-exclusive, which the column's default keeps. The server default also lets a
worker of the previous release insert orders during a rolling deploy.

`invoices.lines` keeps a supplementary invoice's reason lines (one amendment, one document:
a netted invoice lists what went up and deducts what went down), in the credit memos' line
document. NULL on an order's first invoice and on every invoice written before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "markets",
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column(
            "prices_include_tax",
            sa.Boolean(),
            nullable=False,
            comment="catalogue prices, fees and appeasements are gross (tax included)",
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column(
        "orders",
        sa.Column(
            "tax_included",
            sa.Boolean(),
            nullable=False,
            server_default=sa.text("false"),
            comment="the order's prices include tax (its market's setting when placed)",
        ),
    )
    op.add_column(
        "invoices",
        sa.Column(
            "lines",
            postgresql.JSONB(),
            nullable=True,
            comment="a supplementary invoice's reason lines, as credit_memos.lines",
        ),
    )


def downgrade() -> None:
    """Back to what release 0008 reads, refused (nothing changed) where that would change what
    an order means: a tax-included order would be repriced tax-exclusive, and a return's held
    refund (a cheaper exchange waiting for its parcel) would be forgotten. Order documents
    written by this release (version 3) are rewritten as version 2: only `told`, what the
    customer was last told, is dropped (the e-mails then compare with the event's own old
    state, as release 0008 did)."""
    bind = op.get_bind()
    included = bind.execute(sa.text("SELECT count(*) FROM orders WHERE tax_included")).scalar()
    held = bind.execute(
        sa.text(
            "SELECT count(*) FROM orders WHERE jsonb_path_exists(doc, '$.returns[*].held_refunds')"
        )
    ).scalar()
    if included or held:
        raise RuntimeError(
            f"cannot downgrade below 0009: {included} order(s) priced tax-included and {held} "
            "with a held exchange refund would change meaning under release 0008; keep this "
            "release, or settle those orders first"
        )
    op.execute(
        "UPDATE orders SET doc = (doc - 'told') || jsonb_build_object('v', 2) "
        "WHERE doc ->> 'v' = '3'"
    )
    op.drop_column("invoices", "lines")
    op.drop_column("orders", "tax_included")
    op.drop_table("markets")
