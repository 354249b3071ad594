"""Repositories over one connection: plain SQL on the tables of persistence/tables.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from persistence.documents import credit_memo_document, read_credit_memo
from persistence.mapping import order_from_row, order_to_doc
from persistence.sql import Sql, jsonb
from services.accounts.model import Account
from services.catalog.model import CatalogEntry
from services.ledger import CreditLine, CreditMemo, Invoice, LedgerView, Refund
from services.money import round_money
from services.orders.model import Order
from services.reference import DeliveryMethod, PickupLocation


class SqlCatalog:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def get_many(self, skus: Collection[str]) -> dict[str, CatalogEntry]:
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        rows = self.sql.all(
            "SELECT sku, name, prices, tax_class, backorderable, active FROM catalog_items "
            "WHERE sku = ANY(%(skus)s)",
            {"skus": wanted},
        )
        return {
            sku: CatalogEntry(
                sku,
                name,
                {c: Decimal(p) for c, p in prices.items()},
                tax_class,
                bool(backorderable),
                bool(active),
            )
            for sku, name, prices, tax_class, backorderable, active in rows
        }

    def upsert(self, entries: Sequence[CatalogEntry]) -> None:
        now = datetime.now(UTC)
        self.sql.insert(
            "INSERT INTO catalog_items (sku, name, prices, tax_class, backorderable, active, updated_at)",
            "(%(sku)s, %(name)s, %(prices)s::jsonb, %(tax_class)s, %(backorderable)s, %(active)s, %(now)s)",
            [
                {
                    "sku": e.sku,
                    "name": e.name,
                    "prices": jsonb({c: str(p) for c, p in e.prices.items()}),
                    "tax_class": e.tax_class,
                    "backorderable": e.backorderable,
                    "active": e.active,
                    "now": now,
                }
                for e in entries
            ],
            " ON CONFLICT (sku) DO UPDATE SET name = excluded.name, prices = excluded.prices, "
            "tax_class = excluded.tax_class, backorderable = excluded.backorderable, "
            "active = excluded.active, updated_at = excluded.updated_at",
        )


class SqlAccounts:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def add(self, account: Account) -> bool:
        now = datetime.now(UTC)
        inserted = self.sql.one(
            "INSERT INTO billing_accounts (id, name, email, phone, billing_address, locale, status, "
            "created_at, updated_at) VALUES (%(id)s, %(name)s, %(email)s, %(phone)s, %(address)s::jsonb, "
            "%(locale)s, %(status)s, %(now)s, %(now)s) ON CONFLICT DO NOTHING RETURNING id",
            {
                "id": account.account_id,
                "name": account.name,
                "email": account.email,
                "phone": account.phone,
                "address": _document(account.billing_address),
                "locale": account.locale,
                "status": account.status,
                "now": now,
            },
        )
        return inserted is not None


_ORDER = (
    "SELECT id, account_id, currency, status, version, doc, created_at, updated_at, tax_included "
    "FROM orders"
)


class SqlOrders:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def get(self, order_id: str) -> Order | None:
        row = self.sql.one(f"{_ORDER} WHERE id = %(id)s", {"id": order_id})
        return order_from_row(row) if row else None

    def get_for_update(self, order_id: str) -> Order | None:
        row = self.sql.one(f"{_ORDER} WHERE id = %(id)s FOR UPDATE", {"id": order_id})
        return order_from_row(row) if row else None

    def add(self, order: Order) -> bool:
        inserted = self.sql.one(
            "INSERT INTO orders (id, account_id, status, currency, version, total, doc, created_at, "
            "updated_at, tax_included) VALUES (%(id)s, %(account_id)s, %(status)s, %(currency)s, "
            "%(version)s, %(total)s, %(doc)s::jsonb, %(created_at)s, %(updated_at)s, "
            "%(tax_included)s) ON CONFLICT DO NOTHING RETURNING id",
            self._values(order),
        )
        return inserted is not None

    def save(self, order: Order) -> None:
        self.sql.run(
            "UPDATE orders SET status = %(status)s, version = %(version)s, total = %(total)s, "
            "doc = %(doc)s::jsonb, updated_at = %(updated_at)s WHERE id = %(id)s",
            self._values(order),
        )

    @staticmethod
    def _values(order: Order) -> dict[str, object]:
        return {
            "id": order.order_id,
            "account_id": order.account_id,
            "status": order.status,
            "currency": order.currency,
            "version": order.version,
            "total": order.priced().total,
            "tax_included": order.tax_included,
            "doc": jsonb(order_to_doc(order)),
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        }


class SqlLedger:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def add_invoice(self, invoice: Invoice, command_id: str) -> None:
        self.sql.run(
            "INSERT INTO invoices (id, order_id, currency, net, tax, total, issued_at, command_id, "
            "lines) VALUES (%(id)s, %(order_id)s, %(currency)s, %(net)s, %(tax)s, %(total)s, "
            "%(at)s, %(cmd)s, %(lines)s::jsonb)",
            {
                "id": invoice.invoice_id,
                "order_id": invoice.order_id,
                "currency": invoice.currency,
                "net": invoice.net,
                "tax": invoice.tax,
                "total": invoice.total,
                "at": invoice.issued_at,
                "cmd": command_id,
                "lines": jsonb(credit_memo_document(invoice.lines)) if invoice.lines else None,
            },
        )

    def add_credit_memo(self, memo: CreditMemo, command_id: str) -> None:
        self.sql.run(
            "INSERT INTO credit_memos (id, order_id, invoice_id, currency, net, tax, total, lines, "
            "settle_to, issued_at, command_id) VALUES (%(id)s, %(order_id)s, %(invoice_id)s, "
            "%(currency)s, %(net)s, %(tax)s, %(total)s, %(lines)s::jsonb, %(settle_to)s, %(at)s, %(cmd)s)",
            {
                "id": memo.credit_memo_id,
                "order_id": memo.order_id,
                "invoice_id": memo.invoice_id,
                "currency": memo.currency,
                "net": memo.net,
                "tax": memo.tax,
                "total": memo.total,
                "lines": jsonb(credit_memo_document(memo.lines)),
                "settle_to": memo.settle_to,
                "at": memo.issued_at,
                "cmd": command_id,
            },
        )

    def add_refund(self, refund: Refund, command_id: str) -> None:
        self.sql.run(
            "INSERT INTO refunds (id, order_id, credit_memo_id, currency, amount, method, status, "
            "requested_at, settled_at, retry_of, command_id, notify_customer) VALUES (%(id)s, "
            "%(order_id)s, %(memo)s, %(currency)s, %(amount)s, %(method)s, %(status)s, %(at)s, "
            "%(settled_at)s, %(retry_of)s, %(cmd)s, %(notify)s)",
            {
                "id": refund.refund_id,
                "order_id": refund.order_id,
                "memo": refund.credit_memo_id,
                "currency": refund.currency,
                "amount": refund.amount,
                "method": refund.method,
                "status": refund.status,
                "at": refund.requested_at,
                "settled_at": refund.requested_at if refund.status == "settled" else None,
                "retry_of": refund.retry_of,
                "cmd": command_id,
                "notify": refund.notify_customer,
            },
        )

    def add_store_credit(self, account_id: str, refund: Refund, command_id: str) -> None:
        self.sql.run(
            "INSERT INTO store_credit_entries (account_id, currency, amount, reason, reference, "
            "created_at, command_id) VALUES (%(account_id)s, %(currency)s, %(amount)s, 'refund', "
            "%(ref)s, %(at)s, %(cmd)s)",
            {
                "account_id": account_id,
                "currency": refund.currency,
                "amount": refund.amount,
                "ref": refund.refund_id,
                "at": refund.requested_at,
                "cmd": command_id,
            },
        )

    def for_order(self, order_id: str) -> LedgerView:
        key = {"id": order_id}
        invoices = self.sql.all(
            "SELECT id, currency, net, tax, issued_at, lines FROM invoices WHERE order_id = %(id)s "
            "ORDER BY issued_at, id",
            key,
        )
        memos = self.sql.all(
            "SELECT id, invoice_id, currency, lines, settle_to, issued_at FROM credit_memos "
            "WHERE order_id = %(id)s ORDER BY issued_at, id",
            key,
        )
        refunds = self.sql.all(
            f"{REFUND_SELECT} WHERE order_id = %(id)s ORDER BY requested_at, id", key
        )
        return LedgerView(
            invoices=tuple(
                Invoice(
                    i,
                    order_id,
                    c,
                    money_of(n, c),
                    money_of(t, c),
                    at,
                    credit_lines(i, lines) if lines else (),
                )
                for i, c, n, t, at, lines in invoices
            ),
            credit_memos=tuple(
                CreditMemo(i, order_id, inv, c, credit_lines(i, lines), settle_to, at)
                for i, inv, c, lines, settle_to, at in memos
            ),
            refunds=tuple(refund_from_row(row) for row in refunds),
        )

    def refund(self, refund_id: str) -> Refund | None:
        row = self.sql.one(f"{REFUND_SELECT} WHERE id = %(id)s", {"id": refund_id})
        return refund_from_row(row) if row else None

    def update_refund(self, refund: Refund, at: datetime) -> None:
        self.sql.run(
            "UPDATE refunds SET status = %(status)s, failure_reason = %(why)s, settled_at = "
            "%(settled_at)s WHERE id = %(id)s",
            {
                "id": refund.refund_id,
                "status": refund.status,
                "why": refund.failure_reason,
                "settled_at": at if refund.status == "settled" else None,
            },
        )


REFUND_SELECT = (
    "SELECT id, order_id, credit_memo_id, currency, amount, method, status, requested_at, "
    "failure_reason, retry_of, notify_customer FROM refunds"
)


def refund_from_row(row: tuple[Any, ...]) -> Refund:
    id_, order_id, memo, c, amount, method, status, at, why, retry_of, notify = row
    return Refund(
        id_, order_id, memo, c, money_of(amount, c), method, status, at, why, retry_of, notify
    )


def _rate(value: Decimal) -> Decimal:
    """0.190000 as 0.19 (the column keeps six decimals), never in exponent form."""
    trimmed = value.normalize()
    return trimmed.quantize(Decimal(1)) if trimmed == trimmed.to_integral() else trimmed


def credit_lines(memo_id: str, stored: dict[str, Any]) -> tuple[CreditLine, ...]:
    """The `credit_memos.lines` column of any version this release reads."""
    return read_credit_memo(stored, f"credit memo {memo_id}")


def money_of(value: Decimal, currency: str) -> Decimal:
    """A stored amount at its currency's scale (the column keeps six decimals)."""
    return round_money(value, currency)


@dataclass
class _ReferenceData:
    rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    classes: frozenset[str] = frozenset()
    methods: dict[str, DeliveryMethod] = field(default_factory=dict)
    locations: dict[str, PickupLocation] = field(default_factory=dict)
    tax_included: dict[str, bool] = field(default_factory=dict)
    loaded_at: float = float("-inf")


#: How long a process keeps reference data (tax rates, markets, methods) before reading it again.
REFERENCE_TTL_SECONDS = 30.0


class ReferenceCache:
    """Reference data read once per `ttl` seconds per process: it changes by migration or by ops."""

    def __init__(self, ttl: float = REFERENCE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._data = _ReferenceData()
        self._lock = threading.Lock()

    def get(self, sql: Sql) -> _ReferenceData:
        data = self._data
        if time.monotonic() - data.loaded_at < self.ttl:
            return data
        with self._lock:
            if time.monotonic() - self._data.loaded_at >= self.ttl:
                self._data = self._load(sql)
            return self._data

    @staticmethod
    def _load(sql: Sql) -> _ReferenceData:
        data = _ReferenceData(loaded_at=time.monotonic())
        for country, tax_class, rate in sql.all("SELECT country, tax_class, rate FROM tax_rates"):
            data.rates.setdefault(country, {})[tax_class] = _rate(rate)
        data.classes = frozenset(c for rates in data.rates.values() for c in rates)
        for currency, included in sql.all("SELECT currency, prices_include_tax FROM markets"):
            data.tax_included[currency] = bool(included)
        for code, name, kind, fees, active in sql.all(
            "SELECT code, name, kind, fees, active FROM delivery_methods"
        ):
            amounts = {c: Decimal(f) for c, f in fees.items()}
            data.methods[code] = DeliveryMethod(code, name, kind, amounts, bool(active))
        for id_, name, country, active in sql.all(
            "SELECT id, name, country, active FROM pickup_locations"
        ):
            data.locations[id_] = PickupLocation(id_, name, country, bool(active))
        return data


class SqlReference:
    def __init__(self, sql: Sql, cache: ReferenceCache) -> None:
        self.sql = sql
        self.cache = cache

    def tax_rates(self, country: str) -> dict[str, Decimal]:
        return dict(self.cache.get(self.sql).rates.get(country, {}))

    def tax_classes(self) -> frozenset[str]:
        return self.cache.get(self.sql).classes

    def prices_include_tax(self, currency: str) -> bool:
        return self.cache.get(self.sql).tax_included.get(currency, False)

    def delivery_method(self, code: str) -> DeliveryMethod | None:
        return self.cache.get(self.sql).methods.get(code)

    def pickup_location(self, location_id: str) -> PickupLocation | None:
        return self.cache.get(self.sql).locations.get(location_id)


def _document(value: object) -> str | None:
    """A nullable document parameter: SQL NULL, not JSON null."""
    return None if value is None else jsonb(value)


class SqlDeadlines:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def set(self, kind: str, ref: str, subject: str, due_at: datetime) -> None:
        self.sql.run(
            "INSERT INTO deadlines (kind, ref, subject, due_at, created_at) "
            "VALUES (%(kind)s, %(ref)s, %(subject)s, %(due)s, %(now)s) "
            "ON CONFLICT (kind, ref) DO UPDATE SET due_at = excluded.due_at",
            {"kind": kind, "ref": ref, "subject": subject, "due": due_at, "now": datetime.now(UTC)},
        )

    def clear(self, kind: str, ref: str) -> None:
        self.sql.run(
            "DELETE FROM deadlines WHERE kind = %(kind)s AND ref = %(ref)s",
            {"kind": kind, "ref": ref},
        )
