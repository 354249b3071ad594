"""deadlines: pending appeasements that expire, advance exchanges whose return is due

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deadlines",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column(
            "subject",
            sa.String(length=80),
            nullable=False,
            comment="the order or account concerned",
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref"),
    )
    op.create_index("ix_deadlines_due", "deadlines", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_deadlines_due", table_name="deadlines")
    op.drop_table("deadlines")
