"""The schema as SQLAlchemy metadata: what migrations 0001-0008 build, exactly.

This is the schema's one description in code. Alembic's autogenerate compares it with a
migrated database (`ordercare db check`, run by `ops/run test`; and
tests/integration/test_schema.py), so a change to either that the other lacks fails the
build: a schema change is a new migration plus the matching change here. The hot path
runs hand-written statements on these tables (persistence/sql.py), each planned against
the migrated schema by tests/integration/test_statements.py; the notifier's store
(persistence/notifications.py) builds its statements from these Table objects.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import Label

from persistence.types import Doc, MoneyType

Stamp = DateTime(timezone=True)
#: 64-bit identity keys.
BigId = BigInteger()

#: field -> (table, the normalised value's expression) that billing_account.search matches
#: (persistence/accounts.py), each indexed twice by migration 0004: GIN trigrams for
#: values containing the query, text_pattern_ops B-trees for exact matches and prefixes.
SEARCH_EXPRESSIONS: dict[str, tuple[str, str]] = {
    "name": ("billing_accounts", "lower(name)"),
    "email": ("billing_accounts", "lower(email)"),
    "phone": ("billing_accounts", "regexp_replace(phone, '[^0-9]+', '', 'g')"),
    "postal_code": (
        "billing_accounts",
        "regexp_replace(upper(billing_address ->> 'postal_code'), '[^0-9A-Z]+', '', 'g')",
    ),
    "order_id": ("orders", "lower(id)"),
}


def _search_indexes(table: str) -> tuple[Index, ...]:
    """Migration 0004's indexes on `table`, under its names."""
    indexes: list[Index] = []
    for field, (on, expression) in SEARCH_EXPRESSIONS.items():
        if on != table:
            continue
        name = f"ix_{table}_{'id' if field == 'order_id' else field}"
        value: Label[str] = literal_column(f"({expression})", String).label(
            field
        )  # labelled for postgresql_ops
        indexes.append(
            Index(
                f"{name}_trgm",
                value,
                postgresql_using="gin",
                postgresql_ops={field: "gin_trgm_ops"},
            )
        )
        indexes.append(Index(f"{name}_prefix", value, postgresql_ops={field: "text_pattern_ops"}))
    return tuple(indexes)


class Base(DeclarativeBase):
    metadata = MetaData()
    type_annotation_map = {dict[str, Any]: Doc, Decimal: MoneyType(), datetime: Stamp}


class InboxRow(Base):
    """Every command seen, by (source, id), with the outcome it got: the idempotency record."""

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_received_at", "received_at"),
        Index("ix_inbox_raw_received_at", "received_at", postgresql_where=text("raw IS NOT NULL")),
    )
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(200))
    outcome_type: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]
    raw: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the message, kept when rejected"
    )


class OutboxRow(Base):
    """A message to publish, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(200))
    routing_key: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    properties: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    available_at: Mapped[datetime] = mapped_column(comment="not published before this time")
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetterRow(Base):
    """An inbound message that could not even be read as an envelope, kept for inspection."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_received_at", "received_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(1000))
    exchange: Mapped[str] = mapped_column(String(200))
    routing_key: Mapped[str] = mapped_column(String(255))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]


class AuditRow(Base):
    """Append-only: who changed what, when, why, and the command that did it."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_log_at", "at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(1000))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    command_id: Mapped[str] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime]


class CatalogRow(Base):
    __tablename__ = "catalog_items"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prices: Mapped[dict[str, Any]]
    tax_class: Mapped[str] = mapped_column(String(32))
    backorderable: Mapped[bool]
    active: Mapped[bool]
    updated_at: Mapped[datetime]


class AccountRow(Base):
    __tablename__ = "billing_accounts"
    __table_args__ = _search_indexes("billing_accounts")
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    billing_address: Mapped[dict[str, Any] | None]
    locale: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    notification_opt_outs: Mapped[list[str]] = mapped_column(
        Doc, server_default=text("'[]'"), comment="notification kinds the customer opted out of"
    )
    version: Mapped[int] = mapped_column(
        Integer, server_default=text("1"), comment="one step per billing_account.update"
    )
    payment_methods: Mapped[list[dict[str, Any]]] = mapped_column(
        Doc,
        server_default=text("'[]'"),
        comment="brand, last four, expiry and the payment service's token: never a card number",
    )


class NotificationRow(Base):
    """A customer e-mail the notifier owes for one event: unique per (event, kind), written
    before any send, by the notifier's store (persistence/notifications.py)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "kind", name="uq_notifications_event_kind"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_created_at", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[str | None] = mapped_column(String(80))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(10))
    template_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(
        String(10), comment="pending | sending | sent | failed | skipped"
    )
    reason: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(
        comment="template data: personal data, never logged"
    )
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class OrderRow(Base):
    """The order aggregate: queryable columns plus the document of lines, delivery and payment."""

    __tablename__ = "orders"
    __table_args__ = _search_indexes("orders")
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal]
    doc: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    tax_included: Mapped[bool] = mapped_column(
        server_default=text("false"),
        comment="the order's prices include tax (its market's setting when placed)",
    )


class MarketRow(Base):
    """A currency whose prices differ from the default (tax-exclusive)."""

    __tablename__ = "markets"
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    prices_include_tax: Mapped[bool] = mapped_column(
        comment="catalogue prices, fees and appeasements are gross (tax included)"
    )
    updated_at: Mapped[datetime]


class TaxRateRow(Base):
    __tablename__ = "tax_rates"
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    tax_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    rate: Mapped[Decimal]


class DeliveryMethodRow(Base):
    __tablename__ = "delivery_methods"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    fees: Mapped[dict[str, Any]]
    active: Mapped[bool]


class PickupLocationRow(Base):
    __tablename__ = "pickup_locations"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    active: Mapped[bool]


class InvoiceRow(Base):
    __tablename__ = "invoices"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    net: Mapped[Decimal]
    tax: Mapped[Decimal]
    total: Mapped[Decimal]
    issued_at: Mapped[datetime]
    command_id: Mapped[str] = mapped_column(String(200))
    lines: Mapped[dict[str, Any] | None] = mapped_column(
        comment="a supplementary invoice's reason lines, as credit_memos.lines"
    )


class CreditMemoRow(Base):
    __tablename__ = "credit_memos"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    currency: Mapped[str] = mapped_column(String(3))
    net: Mapped[Decimal]
    tax: Mapped[Decimal]
    total: Mapped[Decimal]
    lines: Mapped[dict[str, Any]]
    settle_to: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime]
    command_id: Mapped[str] = mapped_column(String(200))


class RefundRow(Base):
    __tablename__ = "refunds"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    credit_memo_id: Mapped[str] = mapped_column(ForeignKey("credit_memos.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    retry_of: Mapped[str | None] = mapped_column(String(80))  # the failed refund it retries
    command_id: Mapped[str] = mapped_column(String(200))
    #: False when the command that made it asked not to tell the customer (migration 0010).
    notify_customer: Mapped[bool] = mapped_column(server_default=text("true"))


class StoreCreditRow(Base):
    """The store-credit ledger of a billing account: the balance is the sum of its entries."""

    __tablename__ = "store_credit_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    reason: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    command_id: Mapped[str] = mapped_column(String(200))


class DeadlineRow(Base):
    """Something due by a time unless resolved first; the sweeper sends `command` for it."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_due", "due_at"),)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), comment="the order or account concerned")
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]


class AppeasementRow(Base):
    """Goodwill offered to a customer: store credit or a discount, granted at once or pending
    approval; written in the transaction of the change it makes."""

    __tablename__ = "appeasements"
    __table_args__ = (
        CheckConstraint("kind IN ('store_credit', 'discount')", name="ck_appeasements_kind"),
        CheckConstraint(
            "status IN ('pending', 'granted', 'rejected', 'expired')",
            name="ck_appeasements_status",
        ),
        Index(
            "ix_appeasements_offerer_day",
            "offered_by",
            "created_at",
            postgresql_where=text("status IN ('pending', 'granted')"),
        ),
        Index(
            "ix_appeasements_order",
            "order_id",
            postgresql_where=text("status IN ('pending', 'granted')"),
        ),
        Index("ix_appeasements_account", "account_id", "created_at"),
        Index(
            "ix_appeasements_pending_expiry",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(ForeignKey("billing_accounts.id"))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"))
    line_id: Mapped[str | None] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(
        comment="store credit, or the discount net of tax (a percent converted at the offer)"
    )
    percent: Mapped[Decimal | None] = mapped_column(comment="as offered, for a discount")
    value: Mapped[Decimal] = mapped_column(comment="what the customer gets, tax included")
    settle_to: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(1000))
    ticket: Mapped[str | None] = mapped_column(String(100))
    offered_by: Mapped[str] = mapped_column(String(64))
    offered_by_role: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_by_role: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(64))
    decision_note: Mapped[str | None] = mapped_column(String(1000))
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    credit_memo_id: Mapped[str | None] = mapped_column(String(80))
    command_id: Mapped[str] = mapped_column(String(200))
