"""What the helpdesk reads about accounts, as storage returns it: search matches, the
account's orders and store credit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from contracts.accounts import SearchField
from services.orders.model import PaymentFacts

#: Match tiers, best first in rank order: the whole value, its start, anywhere in it.
EXACT, PREFIX, PARTIAL = 2, 1, 0


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """A field to search and the query normalised as that field is stored for searching
    (see `normalise`): storage matches values that contain it."""

    field: SearchField
    value: str


@dataclass(frozen=True, slots=True)
class SearchRow:
    """An account that matched: how well (tier, then trigram similarity) and on what."""

    account_id: str
    field: SearchField
    tier: int
    score: float
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccountCard:
    """What a search result shows of an account, before masking."""

    account_id: str
    name: str
    email: str | None
    phone: str | None
    status: Literal["active", "on_hold", "closed"]
    postal_code: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One of an account's orders: its state, total and payment facts."""

    order_id: str
    status: str
    version: int
    currency: str
    total: Decimal
    payment: PaymentFacts
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoreCreditEntry:
    """One entry of an account's store-credit ledger."""

    entry_id: int
    currency: str
    amount: Decimal
    reason: str
    reference: str | None
    created_at: datetime
