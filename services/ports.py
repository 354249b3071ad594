"""What the domain needs from storage, as Protocols; persistence/ implements them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from services.accounts.model import Account
from services.catalog.model import CatalogEntry
from services.ledger import CreditMemo, Invoice, LedgerView, Refund
from services.orders.model import Order
from services.reference import DeliveryMethod, PickupLocation


class Catalog(Protocol):
    """SKUs with their prices."""

    def get_many(self, skus: Collection[str]) -> dict[str, CatalogEntry]: ...

    def upsert(self, entries: Sequence[CatalogEntry]) -> None: ...


class Accounts(Protocol):
    """Billing accounts."""

    def get(self, account_id: str) -> Account | None: ...

    def add(self, account: Account) -> bool:
        """Insert; False when the id is taken."""
        ...


class Orders(Protocol):
    """Order aggregates; `get_for_update` holds the order's lock until the unit of work ends."""

    def get(self, order_id: str) -> Order | None: ...

    def get_for_update(self, order_id: str) -> Order | None: ...

    def add(self, order: Order) -> bool:
        """Insert; False when the id is taken."""
        ...

    def save(self, order: Order) -> None: ...


class Reference(Protocol):
    """Configured reference data: tax rates, delivery methods, pickup locations."""

    def tax_rates(self, country: str) -> dict[str, Decimal]: ...

    def tax_classes(self) -> frozenset[str]: ...

    def delivery_method(self, code: str) -> DeliveryMethod | None: ...

    def pickup_location(self, location_id: str) -> PickupLocation | None: ...


class Ledger(Protocol):
    """Invoices, credit memos and refunds: append-only money documents."""

    def add_invoice(self, invoice: Invoice, command_id: str) -> None: ...

    def add_credit_memo(self, memo: CreditMemo, command_id: str) -> None: ...

    def add_refund(self, refund: Refund, command_id: str) -> None: ...

    def add_store_credit(self, account_id: str, refund: Refund, command_id: str) -> None:
        """Credit a refund settled as store credit to the account's store-credit ledger."""
        ...

    def for_order(self, order_id: str) -> LedgerView: ...

    def refund(self, refund_id: str) -> Refund | None: ...

    def update_refund(self, refund: Refund, at: datetime, command_id: str) -> None:
        """Record a refund's new status (settled or failed, with the failure reason)."""
        ...


class UnitOfWork(Protocol):
    """One transaction's view of storage."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def accounts(self) -> Accounts: ...

    @property
    def orders(self) -> Orders: ...

    @property
    def reference(self) -> Reference: ...

    @property
    def ledger(self) -> Ledger: ...
