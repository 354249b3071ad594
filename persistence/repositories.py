"""Repositories over one connection, written with Core statements on the typed tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update

from persistence.mapping import order_from_row, order_to_doc
from persistence.sql import insert_new, upsert
from persistence.tables import (
    AccountRow,
    CatalogRow,
    CreditMemoRow,
    DeliveryMethodRow,
    InvoiceRow,
    OrderRow,
    PickupLocationRow,
    RefundRow,
    StoreCreditRow,
    TaxRateRow,
)
from services.accounts.model import Account
from services.catalog.model import CatalogEntry
from services.ledger import CreditLine, CreditMemo, Invoice, LedgerView, Refund
from services.orders.model import Order
from services.reference import DeliveryMethod, PickupLocation

_catalog = cast(Table, CatalogRow.__table__)
_accounts = cast(Table, AccountRow.__table__)
_orders = cast(Table, OrderRow.__table__)
_invoices = cast(Table, InvoiceRow.__table__)
_memos = cast(Table, CreditMemoRow.__table__)
_refunds = cast(Table, RefundRow.__table__)
_store_credit = cast(Table, StoreCreditRow.__table__)


class SqlCatalog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_many(self, skus: Collection[str]) -> dict[str, CatalogEntry]:
        rows = self.conn.execute(select(_catalog).where(_catalog.c.sku.in_(list(skus))))
        return {
            r.sku: CatalogEntry(
                r.sku,
                r.name,
                {c: Decimal(p) for c, p in r.prices.items()},
                r.tax_class,
                r.backorderable,
                r.active,
            )
            for r in rows
        }

    def upsert(self, entries: Sequence[CatalogEntry]) -> None:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        self.conn.execute(
            upsert(self.conn, _catalog, ["sku"]),
            [
                {
                    "sku": e.sku,
                    "name": e.name,
                    "prices": {c: str(p) for c, p in e.prices.items()},
                    "tax_class": e.tax_class,
                    "backorderable": e.backorderable,
                    "active": e.active,
                    "updated_at": now,
                }
                for e in entries
            ],
        )


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, account_id: str) -> Account | None:
        r = self.conn.execute(select(_accounts).where(_accounts.c.id == account_id)).first()
        if r is None:
            return None
        return Account(r.id, r.name, r.email, r.phone, r.billing_address, r.locale, r.status)

    def add(self, account: Account) -> bool:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        return insert_new(
            self.conn,
            _accounts,
            {
                "id": account.account_id,
                "name": account.name,
                "email": account.email,
                "phone": account.phone,
                "billing_address": account.billing_address,
                "locale": account.locale,
                "status": account.status,
                "created_at": now,
                "updated_at": now,
            },
        )


class SqlOrders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, order_id: str) -> Order | None:
        row = self.conn.execute(select(_orders).where(_orders.c.id == order_id)).first()
        return order_from_row(row) if row else None

    def get_for_update(self, order_id: str) -> Order | None:
        stmt = select(_orders).where(_orders.c.id == order_id).with_for_update()
        row = self.conn.execute(stmt).first()
        return order_from_row(row) if row else None

    def add(self, order: Order) -> bool:
        return insert_new(self.conn, _orders, self._values(order))

    def save(self, order: Order) -> None:
        values = self._values(order)
        del values["created_at"]
        self.conn.execute(update(_orders).where(_orders.c.id == order.order_id), values)

    @staticmethod
    def _values(order: Order) -> dict[str, Any]:
        return {
            "id": order.order_id,
            "account_id": order.account_id,
            "status": order.status,
            "currency": order.currency,
            "version": order.version,
            "total": order.priced().total,
            "doc": order_to_doc(order),
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        }


class SqlLedger:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_invoice(self, invoice: Invoice, command_id: str) -> None:
        self.conn.execute(
            _invoices.insert(),
            {
                "id": invoice.invoice_id,
                "order_id": invoice.order_id,
                "currency": invoice.currency,
                "net": invoice.net,
                "tax": invoice.tax,
                "total": invoice.total,
                "issued_at": invoice.issued_at,
                "command_id": command_id,
            },
        )

    def add_credit_memo(self, memo: CreditMemo, command_id: str) -> None:
        lines = [[x.reason, x.description, str(x.net), str(x.tax), x.line_id] for x in memo.lines]
        self.conn.execute(
            _memos.insert(),
            {
                "id": memo.credit_memo_id,
                "order_id": memo.order_id,
                "invoice_id": memo.invoice_id,
                "currency": memo.currency,
                "net": memo.net,
                "tax": memo.tax,
                "total": memo.total,
                "lines": {"lines": lines},
                "settle_to": memo.settle_to,
                "issued_at": memo.issued_at,
                "command_id": command_id,
            },
        )

    def add_refund(self, refund: Refund, command_id: str) -> None:
        self.conn.execute(
            _refunds.insert(),
            {
                "id": refund.refund_id,
                "order_id": refund.order_id,
                "credit_memo_id": refund.credit_memo_id,
                "currency": refund.currency,
                "amount": refund.amount,
                "method": refund.method,
                "status": refund.status,
                "requested_at": refund.requested_at,
                "settled_at": refund.requested_at if refund.status == "settled" else None,
                "command_id": command_id,
            },
        )

    def add_store_credit(self, account_id: str, refund: Refund, command_id: str) -> None:
        self.conn.execute(
            _store_credit.insert(),
            {
                "account_id": account_id,
                "currency": refund.currency,
                "amount": refund.amount,
                "reason": "refund",
                "reference": refund.refund_id,
                "created_at": refund.requested_at,
                "command_id": command_id,
            },
        )

    def for_order(self, order_id: str) -> LedgerView:
        c = self.conn
        invoices = c.execute(
            select(_invoices)
            .where(_invoices.c.order_id == order_id)
            .order_by(_invoices.c.issued_at)
        )
        memos = c.execute(
            select(_memos).where(_memos.c.order_id == order_id).order_by(_memos.c.issued_at)
        )
        refunds = c.execute(
            select(_refunds)
            .where(_refunds.c.order_id == order_id)
            .order_by(_refunds.c.requested_at)
        )
        return LedgerView(
            invoices=tuple(
                Invoice(r.id, r.order_id, r.currency, r.net, r.tax, r.issued_at) for r in invoices
            ),
            credit_memos=tuple(
                CreditMemo(
                    r.id,
                    r.order_id,
                    r.invoice_id,
                    r.currency,
                    tuple(
                        CreditLine(a, b, Decimal(n), Decimal(t), lid)
                        for a, b, n, t, lid in r.lines["lines"]
                    ),
                    r.settle_to,
                    r.issued_at,
                )
                for r in memos
            ),
            refunds=tuple(
                Refund(
                    r.id,
                    r.order_id,
                    r.credit_memo_id,
                    r.currency,
                    r.amount,
                    r.method,
                    r.status,
                    r.requested_at,
                )
                for r in refunds
            ),
        )


@dataclass
class _ReferenceData:
    rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    classes: frozenset[str] = frozenset()
    methods: dict[str, DeliveryMethod] = field(default_factory=dict)
    locations: dict[str, PickupLocation] = field(default_factory=dict)
    loaded_at: float = float("-inf")


class ReferenceCache:
    """Reference data read once per `ttl` seconds per process: it changes by migration or by ops."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._data = _ReferenceData()
        self._lock = threading.Lock()

    def get(self, conn: Connection) -> _ReferenceData:
        data = self._data
        if time.monotonic() - data.loaded_at < self.ttl:
            return data
        with self._lock:
            if time.monotonic() - self._data.loaded_at >= self.ttl:
                self._data = self._load(conn)
            return self._data

    @staticmethod
    def _load(conn: Connection) -> _ReferenceData:
        data = _ReferenceData(loaded_at=time.monotonic())
        for r in conn.execute(select(TaxRateRow.__table__)):
            data.rates.setdefault(r.country, {})[r.tax_class] = r.rate
        data.classes = frozenset(c for rates in data.rates.values() for c in rates)
        for r in conn.execute(select(DeliveryMethodRow.__table__)):
            fees = {c: Decimal(f) for c, f in r.fees.items()}
            data.methods[r.code] = DeliveryMethod(r.code, r.name, r.kind, fees, r.active)
        for r in conn.execute(select(PickupLocationRow.__table__)):
            data.locations[r.id] = PickupLocation(r.id, r.name, r.country, r.active)
        return data


class SqlReference:
    def __init__(self, conn: Connection, cache: ReferenceCache) -> None:
        self.conn = conn
        self.cache = cache

    def tax_rates(self, country: str) -> dict[str, Decimal]:
        return dict(self.cache.get(self.conn).rates.get(country, {}))

    def tax_classes(self) -> frozenset[str]:
        return self.cache.get(self.conn).classes

    def delivery_method(self, code: str) -> DeliveryMethod | None:
        return self.cache.get(self.conn).methods.get(code)

    def pickup_location(self, location_id: str) -> PickupLocation | None:
        return self.cache.get(self.conn).locations.get(location_id)
