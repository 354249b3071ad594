"""refunds keep why the payment service could not make them, and which one they retry

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refunds", sa.Column("failure_reason", sa.String(length=300), nullable=True))
    op.add_column("refunds", sa.Column("retry_of", sa.String(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column("refunds", "retry_of")
    op.drop_column("refunds", "failure_reason")
