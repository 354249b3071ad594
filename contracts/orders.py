"""The order flow: create, amend, cancel, redirect and read an order, and its events."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from contracts.common import (
    MIN_VERSION_FIELD,
    Address,
    Amount,
    CommandData,
    Currency,
    Identifier,
    MinimumVersion,
    Published,
    QueryData,
    ReasonCode,
    SettleTo,
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


class CancelLine(Wire):
    """A line to cancel: all its unshipped units, or `quantity` of them."""

    line_id: Identifier
    quantity: int | None = Field(default=None, ge=1, le=9999)


class CancelOrder(CommandData):
    """Sent by an agent: cancel the whole order (nothing shipped), the unshipped rest of it,
    or chosen lines. Shipped units go through returns instead."""

    TYPE: ClassVar[str] = "order.cancel"

    order_id: Identifier
    reason: ReasonCode  # required here: money moves
    scope: Literal["order", "unshipped", "lines"] = Field(
        default="order",
        description="order: every unit, refused once any has shipped; unshipped: every unit "
        "not shipped yet; lines: the lines (and quantities) in `lines`.",
    )
    lines: list[CancelLine] | None = Field(default=None, min_length=1, max_length=500)
    settle_to: SettleTo = "original_payment"

    @model_validator(mode="after")
    def _lines_with_scope(self) -> Self:
        if (self.scope == "lines") != (self.lines is not None):
            raise ValueError("give `lines` exactly when scope is 'lines'")
        return self


class AddLine(Wire):
    """Add a SKU. `unit_price` overrides the catalogue price (roles allowed by configuration)."""

    action: Literal["add"]
    sku: Sku
    quantity: int = Field(ge=1, le=9999)
    line_id: Identifier | None = Field(default=None, description="Generated when absent.")
    unit_price: Amount | None = Field(default=None, ge=0)


class RemoveLine(Wire):
    """Remove a line none of whose units has shipped."""

    action: Literal["remove"]
    line_id: Identifier


class ReplaceLine(Wire):
    """Swap a line none of whose units has shipped for another SKU (a size, a colour)."""

    action: Literal["replace"]
    line_id: Identifier
    sku: Sku
    quantity: int | None = Field(
        default=None, ge=1, le=9999, description="Defaults to the replaced line's."
    )
    new_line_id: Identifier | None = Field(default=None, description="Generated when absent.")
    unit_price: Amount | None = Field(default=None, ge=0)


class SetQuantity(Wire):
    """Set a line's quantity; never below its shipped units. 0 removes the unshipped units."""

    action: Literal["set_quantity"]
    line_id: Identifier
    quantity: int = Field(ge=0, le=9999)


LineEdit = Annotated[
    AddLine | RemoveLine | ReplaceLine | SetQuantity, Field(discriminator="action")
]


class AmendOrder(CommandData):
    """Sent by an agent: one or more line changes applied atomically as one version step with
    one settlement. With `preview`, nothing is applied: the outcome shows the would-be
    lines, totals, money documents and events."""

    TYPE: ClassVar[str] = "order.amend"

    order_id: Identifier
    reason: ReasonCode
    changes: list[LineEdit] = Field(min_length=1, max_length=500)
    settle_to: SettleTo = "original_payment"
    preview: bool = False


class ChangeDelivery(CommandData):
    """Sent by an agent: a new address (until the first shipment), delivery method or pickup
    location (until dispatch). Tax and shipping are priced again; the difference settles."""

    TYPE: ClassVar[str] = "order.change_delivery"

    order_id: Identifier
    reason: ReasonCode
    address: Address | None = None
    method: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    pickup_location_id: Identifier | None = None
    settle_to: SettleTo = "original_payment"
    preview: bool = False

    @model_validator(mode="after")
    def _something_changes(self) -> Self:
        if self.address is None and self.method is None and self.pickup_location_id is None:
            raise ValueError("give an address, a method or a pickup_location_id to change")
        if self.address is not None and self.pickup_location_id is not None:
            raise ValueError("give an address or a pickup_location_id, not both")
        return self


class RetryRefund(CommandData):
    """Sent by an agent: pay out again a refund the payment service declined (credit owed),
    to the original payment or, say after a card expired, as store credit."""

    TYPE: ClassVar[str] = "refund.retry"

    order_id: Identifier
    refund_id: Identifier = Field(description="The failed refund.")
    reason: ReasonCode
    settle_to: SettleTo = "original_payment"


class GetOrder(QueryData):
    """Sent by a helpdesk with reply_to: the order as an agent sees it."""

    TYPE: ClassVar[str] = "order.get"

    order_id: Identifier
    min_version: int | None = MIN_VERSION_FIELD

    def must_see(self) -> MinimumVersion | None:
        if self.min_version is None:
            return None
        return MinimumVersion("order", self.order_id, self.min_version)


# --- published shapes ------------------------------------------------------------------


class Totals(Published):
    """An order's totals from the one pricing function, in the order's currency. Where
    `tax_included` is false (tax-exclusive prices), total = subtotal - discounts + shipping +
    tax; where it is true (the prices include tax), total = subtotal - discounts + shipping,
    and `tax` is the tax contained in it."""

    currency: Currency
    tax_included: bool = Field(
        default=False,
        description="Prices, discounts and shipping include tax (the market's setting).",
    )
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
    backordered: int = Field(default=0, description="Open units the warehouse is waiting for.")
    expected_date: date | None = Field(default=None, description="When backordered units ship.")
    state: Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
    replaces: str | None = Field(default=None, description="The line this one replaced.")
    price_override: bool = False
    unit_price: Amount = Field(description="In the order's price terms (see totals.tax_included).")
    discount: Amount = Field(
        default=Decimal(0),
        description="Appeasement discount, in the order's price terms (see totals.tax_included).",
    )
    returned: int = Field(default=0, description="Shipped units taken back off the charge.")
    exchange_for: str | None = Field(default=None, description="The return it replaces units of.")
    hold: bool = Field(default=False, description="Ships only once that return has arrived.")
    tax_rate: Amount
    net: Amount
    tax: Amount


class DeliveryView(Published):
    """Where the order goes."""

    method: str
    country: str
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
    settle_to: SettleTo
    issued_at: datetime


class InvoiceView(Published):
    """An invoice issued for an order: its first, or a supplementary one for an increase."""

    invoice_id: str
    currency: Currency
    net: Amount
    tax: Amount
    total: Amount
    issued_at: datetime
    lines: list[CreditMemoLine] = Field(
        default_factory=list,
        description="Why a supplementary invoice bills more, line by line; a netted one "
        "deducts what went down in negative lines. Empty on the order's first invoice.",
    )


class RefundView(Published):
    """A refund of a credit memo to the original payment or to store credit."""

    refund_id: str
    credit_memo_id: str
    currency: Currency
    amount: Amount
    method: Literal["original_payment", "store_credit"]
    status: Literal["requested", "settled", "failed"]
    requested_at: datetime
    failure_reason: str | None = None
    retry_of: str | None = Field(default=None, description="The failed refund this one retries.")


class ShipmentLine(Published):
    """Units of a line in a shipment."""

    line_id: str
    sku: str
    name: str
    quantity: int


class ShipmentView(Published):
    """A parcel the warehouse dispatched."""

    shipment_id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None = None
    lines: list[ShipmentLine]
    shipped_at: datetime
    delivered_at: datetime | None = None


#: How the parcel comes back: a prepaid label OrderCare's carrier collects, a parcel the
#: customer posts at their own cost, or a drop at a store.
ReturnMethod = Literal["carrier_label", "drop_off", "in_store"]

#: What the warehouse found, unit by unit.
Condition = Literal[
    "resellable", "damaged_in_transit", "damaged_by_customer", "wrong_item", "missing"
]

#: What a unit's condition refunds.
Outcome = Literal["full", "restocking_fee", "none"]

#: `partially_received`: a parcel came, units authorised are still to come (another parcel
#: may bring them until `return_by`).
ReturnStatus = Literal[
    "authorized", "partially_received", "awaiting_decision", "received", "cancelled", "expired"
]


class ConditionCount(Published):
    condition: Condition
    quantity: int


class ReturnLineView(Published):
    """One line of a return: authorised, what arrived, and what it refunded."""

    line_id: str
    sku: str
    name: str | None = Field(
        default=None, description="The item's name, as the order line has it (for e-mails)."
    )
    quantity: int = Field(description="Units authorised.")
    reason: str
    received: list[ConditionCount] = Field(default_factory=list)
    refunded: int = Field(default=0, description="Units refunded in full.")
    restocking_fee: int = Field(default=0, description="Units refunded less the restocking fee.")
    refused: int = Field(default=0, description="Units received and not refunded.")
    missing: int = Field(default=0, description="Units authorised that did not arrive.")
    awaiting_decision: list[ConditionCount] = Field(default_factory=list)
    credited_in_advance: int = Field(
        default=0, description="Units an exchange credited before they arrived."
    )


class ReturnException(Published):
    """Something in a parcel that was not authorised: kept for a person, never refunded."""

    line_id: str | None
    sku: str
    condition: Condition
    quantity: int
    why: str


class ReturnView(Published):
    """A return authorisation (RMA) and where it stands."""

    return_id: str
    status: ReturnStatus
    method: ReturnMethod
    exchange: bool
    advance: bool = Field(description="The replacement ships before the return arrives.")
    lines: list[ReturnLineView]
    replacement_line_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    return_by: datetime = Field(description="The parcel is due by then.")
    received_at: datetime | None = None
    window_override: bool = False
    exceptions: list[ReturnException] = Field(default_factory=list)


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
    shipments: list[ShipmentView] = Field(default_factory=list)
    returns: list[ReturnView] = Field(default_factory=list)
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


class LineChange(Published):
    """What one change did to one line."""

    action: Literal["added", "removed", "replaced", "quantity_changed", "cancelled", "short_picked"]
    line_id: str
    sku: str
    name: str
    old_quantity: int
    new_quantity: int
    old_unit_price: Amount | None = None
    new_unit_price: Amount | None = None
    price_override: bool = False
    replaces: str | None = None


class SettlementView(Published):
    """How a change of the order's total was settled, in the order's currency."""

    direction: Literal["none", "decrease", "increase"]
    difference: Amount = Field(description="New total minus old total.")
    credit_memos: list[CreditMemoView] = Field(default_factory=list)
    refunds: list[RefundView] = Field(default_factory=list)
    invoice_id: str | None = Field(
        default=None, description="The supplementary invoice of an increase."
    )
    invoice: InvoiceView | None = Field(
        default=None, description="That invoice, with its reason lines."
    )
    refund_due: Amount = Field(description="Captured money to return to the customer.")
    authorization_released: Amount = Field(description="Authorised money no longer to capture.")
    balance_due: Amount = Field(description="What the customer owes after the change.")


class ToldLine(Published):
    """One line as the customer was last told of it."""

    line_id: str
    sku: str
    name: str
    quantity: int
    unit_price: Amount


class ToldView(Published):
    """What the customer was last told of the order (changes made with `notify_customer:
    false` left out): the baseline an e-mail compares with."""

    total: Amount
    lines: list[ToldLine]
    refunded: Amount | None = Field(default=None, description="Refunded by then, in all.")
    to_capture: Amount | None = Field(
        default=None, description="Authorised money then still to capture."
    )
    captured: Amount | None = Field(default=None, description="Captured by then, in all.")


class OrderChanged(Published):
    """What every order change publishes: old and new totals, the payment, the settlement."""

    order_id: str
    account_id: str
    version: int
    reason: str
    old_totals: Totals
    new_totals: Totals
    payment: PaymentState
    settlement: SettlementView
    told: ToldView | None = Field(
        default=None, description="What the customer was last told, before this change."
    )


class OrderAmended(OrderChanged):
    """Published by OrderCare when an agent changed an order's lines."""

    TYPE: ClassVar[str] = "order.amended"

    changes: list[LineChange]
    lines: list[LineView]


class OrderDeliveryChanged(OrderChanged):
    """Published by OrderCare when an order's address, method or pickup location changed."""

    TYPE: ClassVar[str] = "order.delivery_changed"

    old_delivery: DeliveryView
    new_delivery: DeliveryView
    lines: list[LineView] | None = Field(default=None, description="The lines after the change.")


class OrderCancelled(OrderChanged):
    """Published by OrderCare when an order, its unshipped rest or chosen lines were cancelled."""

    TYPE: ClassVar[str] = "order.cancelled"

    scope: Literal["order", "unshipped", "lines"]
    status: Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
    changes: list[LineChange]
    lines: list[LineView] | None = Field(default=None, description="The lines after the change.")


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


class BalanceDue(Published):
    """Published by OrderCare for the payment service: the customer owes money on an order."""

    TYPE: ClassVar[str] = "payment.balance_due"

    order_id: str
    account_id: str
    currency: Currency
    balance_due: Amount
    to_capture: Amount = Field(description="Part of it the remaining authorisation covers.")
    invoice_id: str | None = None
    payment_reference: str | None = None


class PaymentCaptured(Published):
    """Published by OrderCare when the payment service captured money on an order (its
    `payment.captured`): what was captured and the payment position it leaves."""

    TYPE: ClassVar[str] = "order.payment_captured"

    order_id: str
    account_id: str
    version: int
    currency: Currency
    amount: Amount = Field(description="What this capture took.")
    capture_reference: str | None = None
    payment: PaymentState


class AuthorizationReduced(Published):
    """Published by OrderCare for the payment service: capture less than was authorised."""

    TYPE: ClassVar[str] = "payment.authorization_reduced"

    order_id: str
    account_id: str
    currency: Currency
    released: Amount
    to_capture: Amount
    payment_reference: str | None = None


class RefundSettled(Published):
    """Published by OrderCare when a refund reached the customer (store credit at once)."""

    TYPE: ClassVar[str] = "refund.settled"

    order_id: str
    account_id: str
    refund: RefundView
    provider_reference: str | None = None


class RefundFailed(Published):
    """Published by OrderCare when the payment service could not refund: the money is owed
    again and shows as credit owed on the order."""

    TYPE: ClassVar[str] = "refund.failed"

    order_id: str
    account_id: str
    refund: RefundView
    failure_reason: str
    credit_owed: Amount
