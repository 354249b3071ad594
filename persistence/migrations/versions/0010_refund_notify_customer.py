"""refunds remember whether the command that made them asked not to tell the customer

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:00:00.000000

A refund made by a change sent with `notify_customer: false` is confirmed later by the
payment service (payment.refund_settled): that confirmation's refund.settled must not
e-mail the customer either. Existing refunds were made by told changes (true).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "refunds",
        sa.Column("notify_customer", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("refunds", "notify_customer")
