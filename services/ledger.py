"""Money documents: invoices, credit memos and refunds. Append-only once issued."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from contracts.common import SettleTo

__all__ = [
    "CreditLine",
    "CreditMemo",
    "Invoice",
    "LedgerView",
    "Refund",
    "RefundStatus",
    "SettleTo",
]

RefundStatus = Literal["requested", "settled", "failed"]


@dataclass(frozen=True, slots=True)
class Invoice:
    """What the customer was billed for an order (or for a later increase)."""

    invoice_id: str
    order_id: str
    currency: str
    net: Decimal
    tax: Decimal
    issued_at: datetime
    #: Why a supplementary invoice bills more, line by line (a netted one deducts what went
    #: down in negative lines); none on an order's first invoice.
    lines: tuple[CreditLine, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One reason an amount went down: the removed line, the quantity cut, the shipping."""

    reason: str
    description: str
    net: Decimal
    tax: Decimal
    line_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreditMemo:
    """A credit against one invoice, one line per reason."""

    credit_memo_id: str
    order_id: str
    invoice_id: str
    currency: str
    lines: tuple[CreditLine, ...]
    settle_to: SettleTo
    issued_at: datetime

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True, slots=True)
class Refund:
    """Money returned for a credit memo: to the original payment, or as store credit."""

    refund_id: str
    order_id: str
    credit_memo_id: str
    currency: str
    amount: Decimal
    method: SettleTo
    status: RefundStatus
    requested_at: datetime
    failure_reason: str | None = None
    #: The failed refund this one pays out again.
    retry_of: str | None = None
    #: False when the command that made it asked not to tell the customer: its confirmation
    #: (refund.settled) is not e-mailed either.
    notify_customer: bool = True


@dataclass(frozen=True, slots=True)
class LedgerView:
    """An order's money documents, oldest first."""

    invoices: tuple[Invoice, ...] = field(default=())
    credit_memos: tuple[CreditMemo, ...] = field(default=())
    refunds: tuple[Refund, ...] = field(default=())
