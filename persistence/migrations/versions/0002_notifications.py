"""notifications and customers' notification opt-outs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column(
        "billing_accounts",
        sa.Column(
            "notification_opt_outs",
            _DOC,
            server_default=sa.text("'[]'"),
            nullable=False,
            comment="notification kinds the customer opted out of",
        ),
    )
    op.create_table(
        "notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("order_id", sa.String(length=80), nullable=True),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("template_id", sa.String(length=100), nullable=True),
        sa.Column(
            "status",
            sa.String(length=10),
            nullable=False,
            comment="pending | sending | sent | failed | skipped",
        ),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column(
            "data", _DOC, nullable=False, comment="template data: personal data, never logged"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "kind", name="uq_notifications_event_kind"),
    )
    op.create_index(
        "ix_notifications_due", "notifications", ["status", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("billing_accounts") as batch:
        batch.drop_column("notification_opt_outs")
