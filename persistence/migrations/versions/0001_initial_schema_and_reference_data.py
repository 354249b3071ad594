"""initial schema and reference data

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 13:05:36.958664
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from persistence.types import MoneyType

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_audit_entity", "audit_log", ["entity_type", "entity_id", "id"], unique=False
    )
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column(
            "billing_address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "catalog_items",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "prices",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tax_class", sa.String(length=32), nullable=False),
        sa.Column("backorderable", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("exchange", sa.String(length=200), nullable=False),
        sa.Column("routing_key", sa.String(length=255), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "delivery_methods",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "fees",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "inbox",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("outcome_type", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "raw", sa.LargeBinary(), nullable=True, comment="the message, kept when rejected"
        ),
        sa.PrimaryKeyConstraint("source", "message_id"),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("exchange", sa.String(length=200), nullable=False),
        sa.Column("routing_key", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "available_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="not published before this time",
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "pickup_locations",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tax_rates",
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("tax_class", sa.String(length=32), nullable=False),
        sa.Column("rate", MoneyType(), nullable=False),
        sa.PrimaryKeyConstraint("country", "tax_class"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("total", MoneyType(), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_orders_account_id"), "orders", ["account_id"], unique=False)
    op.create_table(
        "store_credit_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", MoneyType(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_store_credit_entries_account_id"),
        "store_credit_entries",
        ["account_id"],
        unique=False,
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("order_id", sa.String(length=80), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net", MoneyType(), nullable=False),
        sa.Column("tax", MoneyType(), nullable=False),
        sa.Column("total", MoneyType(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_invoices_order_id"), "invoices", ["order_id"], unique=False)
    op.create_table(
        "credit_memos",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("order_id", sa.String(length=80), nullable=False),
        sa.Column("invoice_id", sa.String(length=80), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net", MoneyType(), nullable=False),
        sa.Column("tax", MoneyType(), nullable=False),
        sa.Column("total", MoneyType(), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("settle_to", sa.String(length=20), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_credit_memos_order_id"), "credit_memos", ["order_id"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("order_id", sa.String(length=80), nullable=False),
        sa.Column("credit_memo_id", sa.String(length=80), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", MoneyType(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_memo_id"],
            ["credit_memos.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_refunds_order_id"), "refunds", ["order_id"], unique=False)

    _seed_reference_data()


#: VAT by destination: standard, reduced and zero rates (2026). US sales tax is
#: state-level and not modelled; JP consumption tax 10 % / 8 %; KW has no VAT.
_TAX_RATES = {
    "DE": ("0.19", "0.07"),
    "AT": ("0.20", "0.10"),
    "BE": ("0.21", "0.06"),
    "FR": ("0.20", "0.055"),
    "NL": ("0.21", "0.09"),
    "IT": ("0.22", "0.10"),
    "ES": ("0.21", "0.10"),
    "IE": ("0.23", "0.135"),
    "SE": ("0.25", "0.12"),
    "PL": ("0.23", "0.08"),
    "CH": ("0.081", "0.026"),
    "GB": ("0.20", "0.05"),
    "US": ("0", "0"),
    "JP": ("0.10", "0.08"),
    "KW": ("0", "0"),
}

_DELIVERY_METHODS = [
    (
        "standard",
        "Standard delivery",
        "address",
        {
            "EUR": "4.95",
            "GBP": "3.95",
            "USD": "5.95",
            "CHF": "6.90",
            "SEK": "59.00",
            "PLN": "19.99",
            "JPY": "800",
            "KWD": "1.500",
        },
    ),
    (
        "express",
        "Express delivery",
        "address",
        {
            "EUR": "9.95",
            "GBP": "7.95",
            "USD": "14.95",
            "CHF": "12.90",
            "SEK": "119.00",
            "PLN": "39.99",
            "JPY": "1500",
            "KWD": "3.000",
        },
    ),
    (
        "pickup",
        "Click and collect",
        "pickup",
        {
            "EUR": "0",
            "GBP": "0",
            "USD": "0",
            "CHF": "0",
            "SEK": "0",
            "PLN": "0",
            "JPY": "0",
            "KWD": "0",
        },
    ),
]

_PICKUP_LOCATIONS = [
    ("pl_berlin_mitte", "Berlin Mitte store", "DE", True),
    ("pl_paris_bastille", "Paris Bastille store", "FR", True),
    ("pl_amsterdam_centraal", "Amsterdam Centraal locker", "NL", True),
    ("pl_london_soho", "London Soho store (closed for refit)", "GB", False),
]


def _seed_reference_data() -> None:
    rates = sa.table(
        "tax_rates", sa.column("country"), sa.column("tax_class"), sa.column("rate", MoneyType())
    )
    op.bulk_insert(
        rates,
        [
            {"country": c, "tax_class": k, "rate": Decimal(r)}
            for c, (standard, reduced) in _TAX_RATES.items()
            for k, r in (("standard", standard), ("reduced", reduced), ("zero", "0"))
        ],
    )
    methods = sa.table(
        "delivery_methods",
        sa.column("code"),
        sa.column("name"),
        sa.column("kind"),
        sa.column("fees", sa.JSON()),
        sa.column("active"),
    )
    op.bulk_insert(
        methods,
        [
            {"code": c, "name": n, "kind": k, "fees": f, "active": True}
            for c, n, k, f in _DELIVERY_METHODS
        ],
    )
    locations = sa.table(
        "pickup_locations",
        sa.column("id"),
        sa.column("name"),
        sa.column("country"),
        sa.column("active"),
    )
    op.bulk_insert(
        locations,
        [{"id": i, "name": n, "country": c, "active": a} for i, n, c, a in _PICKUP_LOCATIONS],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_refunds_order_id"), table_name="refunds")
    op.drop_table("refunds")
    op.drop_index(op.f("ix_credit_memos_order_id"), table_name="credit_memos")
    op.drop_table("credit_memos")
    op.drop_index(op.f("ix_invoices_order_id"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_store_credit_entries_account_id"), table_name="store_credit_entries")
    op.drop_table("store_credit_entries")
    op.drop_index(op.f("ix_orders_account_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("tax_rates")
    op.drop_table("pickup_locations")
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("delivery_methods")
    op.drop_table("dead_letters")
    op.drop_table("catalog_items")
    op.drop_table("billing_accounts")
    op.drop_index("ix_audit_entity", table_name="audit_log")
    op.drop_table("audit_log")
