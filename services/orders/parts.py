"""The parts an order is made of: its lines, its parcels, where it goes, and what one edit did
to one line. Values and entities the Order aggregate (model.py) owns and changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from services.money import ZERO
from services.pricing import LineInput

OrderStatus = Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
LineState = Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]


@dataclass(slots=True)
class Line:
    """An order line. Units only count up: `ordered` grows when an agent adds units,
    `cancelled` when units are taken off, `shipped` and `delivered` as the warehouse reports."""

    line_id: str
    sku: str
    name: str
    unit_price: Decimal
    tax_class: str
    ordered: int
    cancelled: int = 0
    shipped: int = 0
    delivered: int = 0
    backordered: int = 0
    expected_date: date | None = None
    replaces: str | None = None
    price_override: bool = False
    #: Discounts granted, each as (per unit, in the order's price terms and kept exact, the units it was
    #: granted on): an amount spread over three units is a third each. A grant covers at most
    #: its units, so units added later get none, and units taken off take their share along.
    discounts: list[tuple[Decimal, int]] = field(default_factory=list)
    #: Shipped units taken back off the charge: returned and accepted, or credited in
    #: advance for an exchange.
    returned: int = 0
    #: The return this line replaces units of (an exchange), and whether it waits for that
    #: return to arrive before it ships.
    exchange_for: str | None = None
    hold: bool = False

    @property
    def quantity(self) -> int:
        """Units still ordered."""
        return self.ordered - self.cancelled

    @property
    def charged(self) -> int:
        """Units the customer pays for: ordered, not cancelled, not taken back."""
        return self.quantity - self.returned

    @property
    def open_units(self) -> int:
        """Units ordered and not shipped yet: the only ones a change may touch."""
        return self.quantity - self.shipped

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
        return LineInput(
            self.line_id,
            self.charged,
            self.unit_price,
            self.tax_class,
            self.discount_for(self.charged),
        )

    def discount_for(self, units: int) -> Decimal:
        """The discount of `units` charged units (the pricing function rounds it)."""
        return sum((each * min(units, covered) for each, covered in self.discounts), ZERO)

    @property
    def unit_discount(self) -> Decimal:
        """The discount of one discounted unit."""
        return sum((each for each, _ in self.discounts), ZERO)

    def clamp_backorder(self) -> None:
        """Backordered units are open units: never more than are left."""
        self.backordered = min(self.backordered, self.open_units)
        if self.backordered == 0:
            self.expected_date = None


@dataclass(frozen=True, slots=True)
class Edited:
    """What one change did to one line (events and audit show it)."""

    action: str
    line_id: str
    sku: str
    name: str
    old_quantity: int
    new_quantity: int
    old_unit_price: Decimal | None = None
    new_unit_price: Decimal | None = None
    price_override: bool = False
    replaces: str | None = None


@dataclass(slots=True)
class Shipment:
    """A parcel the warehouse dispatched: units per line, carrier and tracking."""

    shipment_id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None
    lines: dict[str, int]
    shipped_at: datetime
    delivered_at: datetime | None = None


@dataclass(slots=True)
class DeliveryInfo:
    """Where the order goes, the method, and the fee that method charged."""

    method: str
    country: str
    fee: Decimal
    address: dict[str, str | None] | None = None
    pickup_location_id: str | None = None
