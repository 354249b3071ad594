"""The Order aggregate. Methods enforce the rules and return what the handler must record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from services.errors import AlreadyCancelled, AlreadyShipped, Invalid, VersionConflict
from services.ids import IdFactory
from services.ledger import CreditMemo, Invoice, Refund, SettleTo
from services.money import ZERO
from services.orders.settlement import PaymentState, Settlement, payment_state, settle
from services.pricing import LineInput, Priced, price_order

OrderStatus = Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
LineState = Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]


@dataclass(slots=True)
class Line:
    """An order line. `ordered` never changes; cancelled, shipped and delivered units count up."""

    line_id: str
    sku: str
    name: str
    unit_price: Decimal
    tax_class: str
    ordered: int
    cancelled: int = 0
    shipped: int = 0
    delivered: int = 0

    @property
    def quantity(self) -> int:
        """Units still ordered."""
        return self.ordered - self.cancelled

    @property
    def state(self) -> LineState:
        if self.quantity == 0:
            return "cancelled"
        if self.delivered >= self.quantity:
            return "delivered"
        if self.shipped >= self.quantity:
            return "shipped"
        return "partially_shipped" if self.shipped else "open"

    def as_input(self) -> LineInput:
        return LineInput(self.line_id, self.quantity, self.unit_price, self.tax_class)


@dataclass(slots=True)
class DeliveryInfo:
    """Where the order goes, the method, and the fee that method charged."""

    method: str
    country: str
    fee: Decimal
    address: dict[str, str | None] | None = None
    pickup_location_id: str | None = None


@dataclass(slots=True)
class PaymentFacts:
    """What the payment service reported: authorised and captured; what was refunded."""

    authorized: Decimal
    captured: Decimal
    refunded: Decimal = ZERO
    reference: str | None = None


@dataclass(slots=True)
class InvoiceRef:
    """An invoice of the order and how much of it has been credited."""

    invoice_id: str
    total: Decimal
    credited: Decimal = ZERO

    @property
    def open(self) -> Decimal:
        return self.total - self.credited


@dataclass(slots=True)
class Order:
    """An order after checkout."""

    order_id: str
    account_id: str
    currency: str
    status: OrderStatus
    version: int
    lines: list[Line]
    delivery: DeliveryInfo
    tax_rates: dict[str, Decimal]
    payment: PaymentFacts
    created_at: datetime
    updated_at: datetime
    invoices: list[InvoiceRef] = field(default_factory=list)
    #: The last result of the pricing function; every method that changes money clears it.
    _priced: Priced | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        account_id: str,
        currency: str,
        lines: list[Line],
        delivery: DeliveryInfo,
        tax_rates: dict[str, Decimal],
        payment: PaymentFacts,
        invoice_id: str,
        now: datetime,
    ) -> tuple[Order, Invoice]:
        """A new order, version 1, with its invoice for the full total."""
        order = cls(
            order_id, account_id, currency, "open", 1, lines, delivery, tax_rates, payment, now, now
        )
        priced = order.priced()
        order._check_payment_covers(priced)
        invoice = Invoice(
            invoice_id, order_id, currency, priced.total - priced.tax, priced.tax, now
        )
        order.invoices.append(InvoiceRef(invoice_id, invoice.total))
        return order, invoice

    def priced(self) -> Priced:
        """The order's totals, from the one pricing function (computed once per state)."""
        if self._priced is None:
            self._priced = self._price()
        return self._priced

    def _price(self) -> Priced:
        return price_order(
            self.currency,
            (line.as_input() for line in self.lines),
            country=self.delivery.country,
            rates=self.tax_rates,
            shipping_fee=self.delivery.fee,
        )

    def payment_state(self, priced: Priced | None = None) -> PaymentState:
        """Balance due, credit owed and what is left to capture, at the current total."""
        return payment_state((priced or self.priced()).total, self.payment)

    def check_version(self, expected: int | None) -> None:
        """Refuse a command written against another version than the current one."""
        if expected is not None and expected != self.version:
            raise VersionConflict(
                f"order {self.order_id} is at version {self.version}, the command expected {expected}",
                current_version=self.version,
                expected_version=expected,
            )

    def cancel(
        self, *, reason: str, settle_to: SettleTo, now: datetime, ids: IdFactory
    ) -> Settlement:
        """Cancel every unit; nothing may have shipped. Credits the total and settles it."""
        self._require_not_cancelled()
        self._require_nothing_shipped()
        before = self.priced()
        for line in self.lines:
            line.cancelled = line.ordered
        self._priced = None
        self.status = "cancelled"
        after = self.priced()
        settlement = settle(
            self, before, after, reason="cancellation", settle_to=settle_to, now=now, ids=ids
        )
        self._bump(now)
        return settlement

    def record_credit(self, memo: CreditMemo) -> None:
        """Count a credit memo against its invoice."""
        invoice = next(i for i in self.invoices if i.invoice_id == memo.invoice_id)
        invoice.credited += memo.total

    def record_refund(self, refund: Refund) -> None:
        """Count money returned to the customer."""
        self.payment.refunded += refund.amount

    def _bump(self, now: datetime) -> None:
        self._priced = None
        self.version += 1
        self.updated_at = now

    def _check_payment_covers(self, priced: Priced) -> None:
        if self.payment.authorized < priced.total:
            raise Invalid(
                f"authorized {self.payment.authorized} {self.currency} does not cover the order "
                f"total {priced.total} {self.currency}",
                field="data.payment.authorized",
                total=str(priced.total),
            )
        if self.payment.captured > priced.total:
            raise Invalid(
                f"captured {self.payment.captured} {self.currency} exceeds the order total "
                f"{priced.total} {self.currency}",
                field="data.payment.captured",
                total=str(priced.total),
            )

    def _require_not_cancelled(self) -> None:
        if self.status == "cancelled":
            raise AlreadyCancelled(
                f"order {self.order_id} is already cancelled", status=self.status
            )

    def _require_nothing_shipped(self) -> None:
        for line in self.lines:
            if line.shipped:
                raise AlreadyShipped(
                    f"line {line.line_id} ({line.sku}) has {line.shipped} shipped unit(s); "
                    "shipped units go through returns",
                    line_id=line.line_id,
                    shipped=line.shipped,
                )
