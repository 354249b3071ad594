"""The order flow: create, cancel and read an order, and the events they produce."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from contracts.common import (
    Address,
    Amount,
    CommandData,
    Currency,
    Identifier,
    Published,
    QueryData,
    ReasonCode,
    Sku,
    Wire,
)

# --- commands -------------------------------------------------------------------------


class NewLine(Wire):
    """A line to order: a SKU and a quantity; the price comes from the catalogue."""

    sku: Sku
    quantity: int = Field(ge=1, le=9999)
    line_id: Identifier | None = Field(
        default=None, description="Generated (l1, l2, …) when absent."
    )


class Delivery(Wire):
    """Where and how the order goes: an address, or a pickup location, and a method."""

    method: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["standard"])
    address: Address | None = None
    pickup_location_id: Identifier | None = None

    @model_validator(mode="after")
    def _address_or_pickup(self) -> Self:
        if (self.address is None) == (self.pickup_location_id is None):
            raise ValueError("give exactly one of address or pickup_location_id")
        return self


class Payment(Wire):
    """What the payment service authorised and captured at checkout."""

    authorized: Amount = Field(ge=0)
    captured: Amount = Field(ge=0)
    reference: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _captured_within_authorized(self) -> Self:
        if self.captured > self.authorized:
            raise ValueError("captured cannot exceed authorized")
        return self


class CreateOrder(CommandData):
    """Sent by the storefront import or an agent: place an order priced from the catalogue."""

    TYPE: ClassVar[str] = "order.create"

    order_id: Identifier | None = Field(default=None, description="Generated (ord_…) when absent.")
    account_id: Identifier
    currency: Currency
    lines: list[NewLine] = Field(min_length=1, max_length=500)
    delivery: Delivery
    payment: Payment


class CancelOrder(CommandData):
    """Sent by an agent: cancel a whole order of which nothing has shipped."""

    TYPE: ClassVar[str] = "order.cancel"

    order_id: Identifier
    reason: ReasonCode  # required here: money moves
    settle_to: Literal["original_payment", "store_credit"] = "original_payment"


class GetOrder(QueryData):
    """Sent by a helpdesk with reply_to: the order as an agent sees it."""

    TYPE: ClassVar[str] = "order.get"

    order_id: Identifier


# --- published shapes ------------------------------------------------------------------


class Totals(Published):
    """An order's totals from the one pricing function. Amounts in the order's currency."""

    currency: Currency
    subtotal: Amount
    discounts: Amount
    shipping: Amount
    tax: Amount
    total: Amount


class PaymentState(Published):
    """The money around an order: paid minus refunded minus total = credit_owed - balance_due."""

    currency: Currency
    authorized: Amount
    captured: Amount
    refunded: Amount
    to_capture: Amount
    balance_due: Amount
    credit_owed: Amount


class LineView(Published):
    """An order line with its price and fulfilment state."""

    line_id: str
    sku: str
    name: str
    quantity: int = Field(description="Units still ordered (cancelled units excluded).")
    cancelled: int
    shipped: int
    delivered: int
    state: Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
    unit_price: Amount
    tax_rate: Amount
    net: Amount
    tax: Amount


class DeliveryView(Published):
    """Where the order goes."""

    method: str
    address: dict[str, str | None] | None = None
    pickup_location_id: str | None = None


class CreditMemoLine(Published):
    """One reason an amount was credited."""

    reason: str
    description: str
    line_id: str | None = None
    net: Amount
    tax: Amount


class CreditMemoView(Published):
    """A credit memo: what was credited against which invoice, and how it settles."""

    credit_memo_id: str
    invoice_id: str
    currency: Currency
    net: Amount
    tax: Amount
    total: Amount
    lines: list[CreditMemoLine]
    settle_to: str
    issued_at: datetime


class InvoiceView(Published):
    """An invoice issued for an order."""

    invoice_id: str
    currency: Currency
    net: Amount
    tax: Amount
    total: Amount
    issued_at: datetime


class RefundView(Published):
    """A refund of a credit memo to the original payment or to store credit."""

    refund_id: str
    credit_memo_id: str
    currency: Currency
    amount: Amount
    method: Literal["original_payment", "store_credit"]
    status: Literal["requested", "settled", "failed"]
    requested_at: datetime


class OrderView(Published):
    """The order as `order.get` returns it."""

    order_id: str
    account_id: str
    status: Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
    version: int
    currency: Currency
    lines: list[LineView]
    delivery: DeliveryView
    totals: Totals
    payment: PaymentState
    invoices: list[InvoiceView]
    credit_memos: list[CreditMemoView]
    refunds: list[RefundView]
    created_at: datetime
    updated_at: datetime


# --- events ----------------------------------------------------------------------------


class OrderCreated(Published):
    """Published by OrderCare when an order was placed: lines, delivery, totals, payment."""

    TYPE: ClassVar[str] = "order.created"

    order_id: str
    account_id: str
    version: int
    lines: list[LineView]
    delivery: DeliveryView
    totals: Totals
    payment: PaymentState
    invoice_id: str


class OrderCancelled(Published):
    """Published by OrderCare when an order was cancelled, with what is owed back."""

    TYPE: ClassVar[str] = "order.cancelled"

    order_id: str
    account_id: str
    version: int
    reason: str
    old_totals: Totals
    new_totals: Totals
    payment: PaymentState
    credit_memo_id: str | None
    refund_due: Amount = Field(description="Captured money to return to the customer.")
    authorization_released: Amount = Field(description="Authorised money no longer to capture.")
    refund_id: str | None


class CreditMemoIssued(Published):
    """Published by OrderCare when an order's amount due went down."""

    TYPE: ClassVar[str] = "credit_memo.issued"

    order_id: str
    account_id: str
    credit_memo: CreditMemoView


class RefundRequested(Published):
    """Published by OrderCare for the payment service: return money for a credit memo."""

    TYPE: ClassVar[str] = "refund.requested"

    order_id: str
    account_id: str
    refund: RefundView
    payment_reference: str | None = None
