"""What warehouses tell OrderCare (short picks, backorders, shipments, deliveries) and
what OrderCare tells warehouses and customers about it."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts.common import Identifier, PartnerData, Published, Sku, Wire
from contracts.orders import (
    DeliveryView,
    LineView,
    PaymentState,
    SettlementView,
    ShipmentLine,
    ShipmentView,
    ToldView,
    Totals,
)

# --- from warehouses (ordercare.warehouse) -------------------------------------------------


class ShortPicked(PartnerData):
    """Sent by a warehouse: it cannot pick `quantity` units of a line."""

    TYPE: ClassVar[str] = "warehouse.short_picked"

    order_id: Identifier
    line_id: Identifier
    sku: Sku
    quantity: int = Field(ge=1, le=9999, description="Units short.")
    warehouse: Identifier


class Backordered(PartnerData):
    """Sent by a warehouse: `quantity` units of a line wait for stock until `expected_date`."""

    TYPE: ClassVar[str] = "warehouse.backordered"

    order_id: Identifier
    line_id: Identifier
    sku: Sku | None = None
    quantity: int = Field(ge=1, le=9999)
    expected_date: date
    warehouse: Identifier


class ShippedLine(Wire):
    """Units of one line in a parcel."""

    line_id: Identifier
    quantity: int = Field(ge=1, le=9999)


class Shipped(PartnerData):
    """Sent by a warehouse: a parcel left with these units."""

    TYPE: ClassVar[str] = "warehouse.shipped"

    order_id: Identifier
    shipment_id: Identifier
    lines: list[ShippedLine] = Field(min_length=1, max_length=500)
    carrier: str = Field(min_length=1, max_length=60)
    tracking_number: str = Field(min_length=1, max_length=100)
    tracking_url: str | None = Field(default=None, max_length=500, pattern=r"^https://\S+$")
    warehouse: Identifier


class Delivered(PartnerData):
    """Sent by a warehouse or carrier integration: a parcel reached the customer."""

    TYPE: ClassVar[str] = "warehouse.delivered"

    order_id: Identifier
    shipment_id: Identifier
    delivered_at: datetime | None = Field(default=None, description="Defaults to receipt time.")


# --- to warehouses and customers (ordercare.events) ----------------------------------------


class FulfillmentLine(Published):
    """What a warehouse must now pick for one line."""

    line_id: str
    sku: str
    name: str
    to_ship: int = Field(description="Units still to pick and ship.")
    previously_to_ship: int
    backordered: int = 0
    hold: bool = Field(
        default=False,
        description="An exchange's replacement: pick it only once its return has arrived.",
    )


class FulfillmentChanged(Published):
    """Published by OrderCare for the warehouse whenever a change alters what it must pick,
    pack or where it must send it."""

    TYPE: ClassVar[str] = "fulfillment.changed"

    order_id: str
    version: int
    cause: str = Field(description="The message type that changed it, e.g. order.amend.")
    lines: list[FulfillmentLine] = Field(description="Lines whose units to ship changed.")
    delivery: DeliveryView
    delivery_changed: bool
    cancelled: bool = Field(description="Nothing is left to ship: stop picking this order.")


class LineShortPicked(Published):
    """Published by OrderCare when units a warehouse could not pick were cancelled and settled."""

    TYPE: ClassVar[str] = "line.short_picked"

    order_id: str
    account_id: str
    version: int
    line_id: str
    sku: str
    name: str
    quantity_short: int
    quantity_left: int = Field(description="Units of the line still coming.")
    warehouse: str
    why: Literal["short_picked", "not_backorderable"]
    old_totals: Totals
    new_totals: Totals
    payment: PaymentState
    settlement: SettlementView
    lines: list[LineView] | None = Field(default=None, description="The lines after the change.")
    told: ToldView | None = Field(
        default=None, description="What the customer was last told, before this change."
    )


class LineBackordered(Published):
    """Published by OrderCare when units of a line wait for stock."""

    TYPE: ClassVar[str] = "line.backordered"

    order_id: str
    account_id: str
    version: int
    line_id: str
    sku: str
    name: str
    quantity: int
    expected_date: date
    warehouse: str


class OrderShipped(Published):
    """Published by OrderCare when a parcel left the warehouse."""

    TYPE: ClassVar[str] = "order.shipped"

    order_id: str
    account_id: str
    version: int
    status: str
    shipment: ShipmentView


class OrderDelivered(Published):
    """Published by OrderCare when a parcel reached the customer."""

    TYPE: ClassVar[str] = "order.delivered"

    order_id: str
    account_id: str
    version: int
    status: str
    shipment_id: str
    lines: list[ShipmentLine]
    delivered_at: datetime
