"""appeasements: goodwill store credit and discounts, granted or pending approval

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:00:00.000000

Indexes serve what the limits sum (an offerer's last 24 hours, an order's appeasements,
both over granted and pending ones), the billing account's list, and pending ones by expiry.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from persistence.types import MoneyType

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("status IN ('pending', 'granted')")
_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "appeasements",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("order_id", sa.String(length=80), nullable=True),
        sa.Column("line_id", sa.String(length=80), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "amount",
            MoneyType(),
            nullable=False,
            comment="store credit, or the discount net of tax (a percent converted at the offer)",
        ),
        sa.Column("percent", MoneyType(), nullable=True, comment="as offered, for a discount"),
        sa.Column(
            "value", MoneyType(), nullable=False, comment="what the customer gets, tax included"
        ),
        sa.Column("settle_to", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("ticket", sa.String(length=100), nullable=True),
        sa.Column("offered_by", sa.String(length=64), nullable=False),
        sa.Column("offered_by_role", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_by_role", sa.String(length=20), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=64), nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credit_memo_id", sa.String(length=80), nullable=True),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.CheckConstraint("kind IN ('store_credit', 'discount')", name="ck_appeasements_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'granted', 'rejected', 'expired')",
            name="ck_appeasements_status",
        ),
        sa.ForeignKeyConstraint(["account_id"], ["billing_accounts.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_appeasements_offerer_day",
        "appeasements",
        ["offered_by", "created_at"],
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )
    op.create_index(
        "ix_appeasements_order",
        "appeasements",
        ["order_id"],
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )
    op.create_index("ix_appeasements_account", "appeasements", ["account_id", "created_at"])
    op.create_index(
        "ix_appeasements_pending_expiry",
        "appeasements",
        ["expires_at"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    for index in (
        "ix_appeasements_pending_expiry",
        "ix_appeasements_account",
        "ix_appeasements_order",
        "ix_appeasements_offerer_day",
    ):
        op.drop_index(index, table_name="appeasements")
    op.drop_table("appeasements")
