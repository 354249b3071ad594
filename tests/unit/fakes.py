"""In-memory implementations of the ports in services/ports.py, for handler tests.

Each fake stores copies, so a handler only changes what it saves, as with a database.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts.common import Actor
from services.accounts.model import Account
from services.accounts.records import (
    AccountCard,
    OrderSummary,
    SearchRow,
    SearchTerm,
    StoreCreditEntry,
)
from services.accounts.scrub import Scrub
from services.accounts.search import normalise, tier_of
from services.appeasements.model import Appeasement
from services.audit.model import AuditRecord
from services.catalog.model import CatalogEntry
from services.context import Context
from services.ledger import CreditMemo, Invoice, LedgerView, Refund
from services.orders.model import Order
from services.reference import DeliveryMethod, PickupLocation

#: A fixed moment: every test order is placed on the first day of the 2026 winter sale.
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)

#: VAT by destination, as the seeded reference data has it (a few countries).
TAX_TABLE: dict[str, dict[str, Decimal]] = {
    "DE": {"standard": Decimal("0.19"), "reduced": Decimal("0.07"), "zero": Decimal("0")},
    "FR": {"standard": Decimal("0.20"), "reduced": Decimal("0.055"), "zero": Decimal("0")},
    "NL": {"standard": Decimal("0.21"), "reduced": Decimal("0.09"), "zero": Decimal("0")},
    "GB": {"standard": Decimal("0.20"), "reduced": Decimal("0.05"), "zero": Decimal("0")},
    "JP": {"standard": Decimal("0.10"), "reduced": Decimal("0.08"), "zero": Decimal("0")},
    "KW": {"standard": Decimal("0"), "reduced": Decimal("0"), "zero": Decimal("0")},
}

DELIVERY_METHODS = {
    m.code: m
    for m in (
        DeliveryMethod(
            "standard",
            "Standard delivery",
            "address",
            {"EUR": Decimal("4.95"), "JPY": Decimal("800"), "KWD": Decimal("1.500")},
        ),
        DeliveryMethod("express", "Express delivery", "address", {"EUR": Decimal("9.95")}),
        DeliveryMethod("pickup", "Click and collect", "pickup", {"EUR": Decimal("0")}),
        DeliveryMethod(
            "pony_express", "Pony express", "address", {"EUR": Decimal("99.00")}, active=False
        ),
    )
}

PICKUP_LOCATIONS = {
    p.location_id: p
    for p in (
        PickupLocation("pl_berlin_mitte", "Berlin Mitte store", "DE"),
        PickupLocation("pl_berlin_kreuzberg", "Berlin Kreuzberg store", "DE"),
        PickupLocation("pl_paris_bastille", "Paris Bastille store", "FR"),
        PickupLocation("pl_london_soho", "London Soho store (closed for refit)", "GB", False),
    )
}


class FakeCatalog:
    def __init__(self, entries: Iterable[CatalogEntry] = ()) -> None:
        self.entries = {e.sku: e for e in entries}

    def get_many(self, skus: Collection[str]) -> dict[str, CatalogEntry]:
        return {s: self.entries[s] for s in skus if s in self.entries}

    def upsert(self, entries: Sequence[CatalogEntry]) -> None:
        self.entries.update({e.sku: e for e in entries})


class FakeAccounts:
    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.accounts = {a.account_id: copy.deepcopy(a) for a in accounts}

    def get(self, account_id: str) -> Account | None:
        return copy.deepcopy(self.accounts.get(account_id))

    def add(self, account: Account) -> bool:
        if account.account_id in self.accounts:
            return False
        self.accounts[account.account_id] = copy.deepcopy(account)
        return True

    def get_for_update(self, account_id: str) -> Account | None:
        return self.get(account_id)

    def save(self, account: Account) -> None:
        self.accounts[account.account_id] = copy.deepcopy(account)


class FakeOrders:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.locked: list[str] = []

    def get(self, order_id: str) -> Order | None:
        return copy.deepcopy(self.orders.get(order_id))

    def get_for_update(self, order_id: str) -> Order | None:
        self.locked.append(order_id)
        return self.get(order_id)

    def add(self, order: Order) -> bool:
        if order.order_id in self.orders:
            return False
        self.orders[order.order_id] = copy.deepcopy(order)
        return True

    def save(self, order: Order) -> None:
        self.orders[order.order_id] = copy.deepcopy(order)


class FakeReference:
    def __init__(
        self,
        rates: dict[str, dict[str, Decimal]] | None = None,
        methods: dict[str, DeliveryMethod] | None = None,
        locations: dict[str, PickupLocation] | None = None,
        tax_included: frozenset[str] = frozenset(),
    ) -> None:
        self.rates = TAX_TABLE if rates is None else rates
        self.included = tax_included
        self.methods = DELIVERY_METHODS if methods is None else methods
        self.locations = PICKUP_LOCATIONS if locations is None else locations

    def tax_rates(self, country: str) -> dict[str, Decimal]:
        return dict(self.rates.get(country, {}))

    def tax_classes(self) -> frozenset[str]:
        return frozenset(k for rates in self.rates.values() for k in rates)

    def prices_include_tax(self, currency: str) -> bool:
        return currency in self.included

    def delivery_method(self, code: str) -> DeliveryMethod | None:
        return self.methods.get(code)

    def pickup_location(self, location_id: str) -> PickupLocation | None:
        return self.locations.get(location_id)


@dataclass
class FakeLedger:
    invoices: list[tuple[Invoice, str]] = field(default_factory=list)
    credit_memos: list[tuple[CreditMemo, str]] = field(default_factory=list)
    refunds: list[tuple[Refund, str]] = field(default_factory=list)
    store_credit: list[tuple[str, Refund, str]] = field(default_factory=list)

    def add_invoice(self, invoice: Invoice, command_id: str) -> None:
        self.invoices.append((invoice, command_id))

    def add_credit_memo(self, memo: CreditMemo, command_id: str) -> None:
        self.credit_memos.append((memo, command_id))

    def add_refund(self, refund: Refund, command_id: str) -> None:
        self.refunds.append((refund, command_id))

    def add_store_credit(self, account_id: str, refund: Refund, command_id: str) -> None:
        self.store_credit.append((account_id, refund, command_id))

    def refund(self, refund_id: str) -> Refund | None:
        return next((r for r, _ in self.refunds if r.refund_id == refund_id), None)

    def update_refund(self, refund: Refund, at: datetime) -> None:
        self.refunds = [
            (refund if r.refund_id == refund.refund_id else r, c) for r, c in self.refunds
        ]

    def for_order(self, order_id: str) -> LedgerView:
        return LedgerView(
            invoices=tuple(i for i, _ in self.invoices if i.order_id == order_id),
            credit_memos=tuple(m for m, _ in self.credit_memos if m.order_id == order_id),
            refunds=tuple(r for r, _ in self.refunds if r.order_id == order_id),
        )


class FakeDeadlines:
    def __init__(self) -> None:
        self.due: dict[tuple[str, str], tuple[str, datetime]] = {}

    def set(self, kind: str, ref: str, subject: str, due_at: datetime) -> None:
        self.due[(kind, ref)] = (subject, due_at)

    def clear(self, kind: str, ref: str) -> None:
        self.due.pop((kind, ref), None)


class FakeAccountViews:
    """The helpdesk's reads over the fake accounts, orders and ledger: search matches as
    the SQL does (contains, then tier) with the length ratio for similarity."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.store_credit_entries: list[tuple[str, StoreCreditEntry]] = []

    def search(
        self, terms: Sequence[SearchTerm], limit: int, candidates: int
    ) -> tuple[list[SearchRow], bool]:
        rows: list[SearchRow] = []
        truncated = False
        for term in terms:
            best: dict[str, SearchRow] = {}
            for account_id, raw, order_id in self._values(term):
                row = self._match(term, account_id, raw, order_id)
                held = best.get(account_id)
                if row and (held is None or (row.tier, row.score) > (held.tier, held.score)):
                    best[account_id] = row
            found = sorted(best.values(), key=lambda r: (-r.tier, -r.score, r.account_id))
            rows.extend(found[:limit])
            truncated = truncated or len(found) >= candidates
        return rows, truncated

    def _values(self, term: SearchTerm) -> list[tuple[str, str | None, str | None]]:
        if term.field == "order_id":
            return [(o.account_id, o.order_id, o.order_id) for o in self.uow.orders.orders.values()]
        accounts = self.uow.accounts.accounts.values()
        if term.field == "postal_code":
            return [
                (a.account_id, (a.billing_address or {}).get("postal_code"), None) for a in accounts
            ]
        return [(a.account_id, getattr(a, term.field), None) for a in accounts]

    @staticmethod
    def _match(
        term: SearchTerm, account_id: str, raw: str | None, order: str | None
    ) -> SearchRow | None:
        value = normalise(term.field, raw) if raw else ""
        tier = tier_of(term.value, value) if value else None
        if tier is None:
            return None
        return SearchRow(account_id, term.field, tier, len(term.value) / len(value), order)

    def cards(self, account_ids: Sequence[str]) -> dict[str, AccountCard]:
        found = {}
        for account_id in account_ids:
            a = self.uow.accounts.accounts.get(account_id)
            if a is not None:
                address = a.billing_address or {}
                found[account_id] = AccountCard(a.account_id, a.name, a.email, a.phone, a.status,
                                                address.get("postal_code"), address.get("country"))  # fmt: skip
        return found

    def orders(self, account_id: str, limit: int) -> tuple[list[OrderSummary], int]:
        mine = [o for o in self.uow.orders.orders.values() if o.account_id == account_id]
        mine.sort(key=lambda o: (o.created_at, o.order_id), reverse=True)
        summaries = [OrderSummary(o.order_id, o.status, o.version, o.currency, o.priced().total,
                                  copy.deepcopy(o.payment), o.created_at, o.updated_at)
                     for o in mine[:limit]]  # fmt: skip
        return summaries, len(mine)

    def ledgers(self, order_ids: Sequence[str]) -> dict[str, LedgerView]:
        return {o: self.uow.ledger.for_order(o) for o in order_ids}

    def store_credit(
        self, account_id: str, limit: int
    ) -> tuple[dict[str, Decimal], list[StoreCreditEntry]]:
        mine = [e for a, e in self.store_credit_entries if a == account_id]
        balances: dict[str, Decimal] = {}
        for e in mine:
            balances[e.currency] = balances.get(e.currency, Decimal(0)) + e.amount
        return balances, sorted(mine, key=lambda e: e.entry_id, reverse=True)[:limit]


class FakeAuditTrail:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def entries(
        self, entity_type: str, entity_id: str, before: int | None, limit: int
    ) -> list[AuditRecord]:
        mine = [r for r in self.records if (r.entity_type, r.entity_id) == (entity_type, entity_id)
                and (before is None or r.entry_id < before)]  # fmt: skip
        return sorted(mine, key=lambda r: r.entry_id, reverse=True)[:limit]


class FakeAppeasements:
    """Appeasements by id; goodwill store credit goes to the account views' ledger."""

    def __init__(self, views: FakeAccountViews) -> None:
        self.rows: dict[str, Appeasement] = {}
        self.views = views
        self.held: list[str] = []

    def get(self, appeasement_id: str) -> Appeasement | None:
        return copy.deepcopy(self.rows.get(appeasement_id))

    def get_for_update(self, appeasement_id: str) -> Appeasement | None:
        return self.get(appeasement_id)

    def add(self, appeasement: Appeasement) -> bool:
        if appeasement.appeasement_id in self.rows:
            return False
        self.rows[appeasement.appeasement_id] = copy.deepcopy(appeasement)
        return True

    def save(self, appeasement: Appeasement) -> None:
        self.rows[appeasement.appeasement_id] = copy.deepcopy(appeasement)

    def on_order(self, order_id: str, excluding: str | None = None) -> Decimal:
        return sum((a.value for a in self._live() if a.order_id == order_id
                    and a.appeasement_id != excluding), Decimal(0))  # fmt: skip

    def offered_since(self, actor_id: str, currency: str, since: datetime) -> Decimal:
        return sum((a.value for a in self._live() if a.offered_by.id == actor_id
                    and a.currency == currency and a.created_at > since), Decimal(0))  # fmt: skip

    def hold_offerer(self, actor_id: str) -> None:
        self.held.append(actor_id)

    def for_account(self, account_id: str, limit: int) -> tuple[list[Appeasement], int]:
        mine = [copy.deepcopy(a) for a in self.rows.values() if a.account_id == account_id]
        mine.sort(key=lambda a: (a.created_at, a.appeasement_id), reverse=True)
        return mine[:limit], len(mine)

    def add_store_credit(self, account_id: str, currency: str, amount: Decimal, reference: str,
                         at: datetime, command_id: str) -> None:  # fmt: skip
        entry_id = len(self.views.store_credit_entries) + 1
        entry = StoreCreditEntry(entry_id, currency, amount, "appeasement", reference, at)
        self.views.store_credit_entries.append((account_id, entry))

    def _live(self) -> list[Appeasement]:
        return [a for a in self.rows.values() if a.status in ("pending", "granted")]


class FakeErasure:
    """The account's orders from the fake orders; audit values as the test sets them; each
    scrub recorded, answering `changed`."""

    def __init__(self, orders: FakeOrders) -> None:
        self.orders = orders
        self.audit: list[dict[str, Any]] = []
        self.scrubs: list[Scrub] = []
        self.changed: dict[str, int] = {}

    def order_ids(self, account_id: str) -> list[str]:
        return sorted(o.order_id for o in self.orders.orders.values() if o.account_id == account_id)

    def audit_values(self, account_id: str, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        return copy.deepcopy(self.audit)

    def scrub(self, scrub: Scrub) -> dict[str, int]:
        self.scrubs.append(scrub)
        return dict(self.changed)


class FakeUnitOfWork:
    """Everything a handler may touch, in memory."""

    def __init__(
        self,
        *,
        catalog: FakeCatalog | None = None,
        accounts: FakeAccounts | None = None,
        reference: FakeReference | None = None,
    ) -> None:
        self.catalog = catalog or FakeCatalog()
        self.accounts = accounts or FakeAccounts()
        self.orders = FakeOrders()
        self.reference = reference or FakeReference()
        self.ledger = FakeLedger()
        self.account_views = FakeAccountViews(self)
        self.audit_trail = FakeAuditTrail()
        self.deadlines = FakeDeadlines()
        self.appeasements = FakeAppeasements(self.account_views)
        self.erasure = FakeErasure(self.orders)


class CountingIds:
    """A deterministic id factory: cm_1, cm_2, rf_1, ord_1, …, counted per prefix."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}_{self.counts[prefix]}"


def context(
    command_type: str = "order.create",
    *,
    command_id: str = "cmd_ticket_4411",
    role: str = "agent",
    now: datetime = NOW,
) -> Context:
    """The context of a command sent by agent Grace from the Zendesk helpdesk."""
    return Context(
        command_id=command_id,
        command_type=command_type,
        source="helpdesk/zendesk",
        actor=Actor.model_validate({"id": "agent-grace", "role": role}),
        now=now,
        reason="customer_request",
        ids=CountingIds(),
    )
