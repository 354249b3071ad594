"""What the domain needs from storage, as Protocols; persistence/ implements them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from services.accounts.model import Account
from services.accounts.records import (
    AccountCard,
    OrderSummary,
    SearchRow,
    SearchTerm,
    StoreCreditEntry,
)
from services.accounts.scrub import Scrub
from services.appeasements.model import Appeasement
from services.audit.model import AuditRecord
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

    def get_for_update(self, account_id: str) -> Account | None:
        """The account, locked until the unit of work ends."""
        ...

    def save(self, account: Account) -> None: ...


class AccountViews(Protocol):
    """What the helpdesk reads about billing accounts: search, orders, store credit."""

    def search(
        self, terms: Sequence[SearchTerm], limit: int, candidates: int
    ) -> tuple[list[SearchRow], bool]:
        """Up to `limit` best matches per term (an account at most once per term), ranked
        among at most `candidates` exact, prefix and partial matches each; and whether a
        term had more candidates than were ranked."""
        ...

    def cards(self, account_ids: Sequence[str]) -> dict[str, AccountCard]: ...

    def orders(self, account_id: str, limit: int) -> tuple[list[OrderSummary], int]:
        """The newest `limit` orders, and how many the account has."""
        ...

    def ledgers(self, order_ids: Sequence[str]) -> dict[str, LedgerView]: ...

    def store_credit(
        self, account_id: str, limit: int
    ) -> tuple[dict[str, Decimal], list[StoreCreditEntry]]:
        """The balance per currency (the sum of every entry) and the newest `limit` entries."""
        ...


class AuditTrail(Protocol):
    """Reading the append-only audit log."""

    def entries(
        self, entity_type: str, entity_id: str, before: int | None, limit: int
    ) -> list[AuditRecord]:
        """Up to `limit` entries about the entity, newest first, older than `before`."""
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
    """Configured reference data: tax rates, markets, delivery methods, pickup locations."""

    def tax_rates(self, country: str) -> dict[str, Decimal]: ...

    def prices_include_tax(self, currency: str) -> bool:
        """Whether prices in that currency's market are tax-included (default: exclusive)."""
        ...

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

    def update_refund(self, refund: Refund, at: datetime) -> None:
        """Record a refund's new status (settled or failed, with the failure reason)."""
        ...


class Deadlines(Protocol):
    """Things that must happen by a time unless something else happens first: a pending
    appeasement expires, an advance exchange's return is due. The sweeper (`ordercare sweep`)
    sends the command that acts on each one due; handlers clear them when resolved."""

    def set(self, kind: str, ref: str, subject: str, due_at: datetime) -> None: ...

    def clear(self, kind: str, ref: str) -> None: ...


class Appeasements(Protocol):
    """Appeasements (goodwill store credit and discounts) and the store credit they grant."""

    def get(self, appeasement_id: str) -> Appeasement | None: ...

    def get_for_update(self, appeasement_id: str) -> Appeasement | None:
        """The appeasement, locked until the unit of work ends."""
        ...

    def add(self, appeasement: Appeasement) -> bool:
        """Insert; False when the id is taken."""
        ...

    def save(self, appeasement: Appeasement) -> None:
        """Record a decision: status, who decided and when, the value and credit memo."""
        ...

    def on_order(self, order_id: str, excluding: str | None = None) -> Decimal:
        """The value of the order's granted and pending appeasements (but `excluding`)."""
        ...

    def offered_since(self, actor_id: str, currency: str, since: datetime) -> Decimal:
        """The value of the granted and pending appeasements `actor_id` offered since then."""
        ...

    def hold_offerer(self, actor_id: str) -> None:
        """Serialise one person's offers until the unit of work ends (the per-day limit)."""
        ...

    def for_account(self, account_id: str, limit: int) -> tuple[list[Appeasement], int]:
        """The newest `limit` appeasements of the billing account, newest first, and how
        many it has in all."""
        ...

    def add_store_credit(
        self,
        account_id: str,
        currency: str,
        amount: Decimal,
        reference: str,
        at: datetime,
        command_id: str,
    ) -> None:
        """A goodwill entry in the account's store-credit ledger (reason `appeasement`)."""
        ...


class Erasure(Protocol):
    """Finding and replacing one customer's personal data wherever it is stored
    (billing_account.erase; the account and its orders go through their repositories)."""

    def order_ids(self, account_id: str) -> list[str]:
        """Every order of the account."""
        ...

    def audit_values(self, account_id: str, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The before and after values of the audit rows about the account and its orders."""
        ...

    def scrub(self, scrub: Scrub) -> dict[str, int]:
        """Replace each value by its stand-in in every other place it is stored; the rows
        changed per table (tables with none left out)."""
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

    @property
    def account_views(self) -> AccountViews: ...

    @property
    def audit_trail(self) -> AuditTrail: ...

    @property
    def deadlines(self) -> Deadlines: ...

    @property
    def appeasements(self) -> Appeasements: ...

    @property
    def erasure(self) -> Erasure: ...
