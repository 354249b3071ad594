"""What happened to an order, as the aggregate records it while it changes (`Order.events`).

These are domain events: plain values naming the change. services/orders/events.py turns
them into the messages OrderCare publishes and the audit rows it keeps, once the command
has settled and taken its version step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from services.ledger import Invoice, Refund
from services.orders.parts import DeliveryInfo, Edited, Shipment
from services.orders.settlement import Settlement


@dataclass(frozen=True, slots=True)
class Placed:
    invoice: Invoice


@dataclass(frozen=True, slots=True)
class Amended:
    reason: str
    edits: tuple[Edited, ...]


@dataclass(frozen=True, slots=True)
class Cancelled:
    reason: str
    scope: Literal["order", "unshipped", "lines"]
    edits: tuple[Edited, ...]


@dataclass(frozen=True, slots=True)
class DeliveryChanged:
    reason: str
    old: DeliveryInfo


@dataclass(frozen=True, slots=True)
class ShortPicked:
    line_id: str
    quantity: int
    left: int
    warehouse: str
    why: Literal["short_picked", "not_backorderable"]


@dataclass(frozen=True, slots=True)
class Discounted:
    reason: str
    #: What granted it (an appeasement's id).
    reference: str | None
    line_id: str | None
    amount: Decimal
    shares: dict[str, Decimal]


ReturnStepKind = Literal["authorized", "received", "decided", "cancelled", "expired"]


@dataclass(frozen=True, slots=True)
class ReturnStep:
    step: ReturnStepKind
    return_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Backordered:
    line_id: str
    quantity: int
    expected: date
    warehouse: str


@dataclass(frozen=True, slots=True)
class Shipped:
    shipment: Shipment


@dataclass(frozen=True, slots=True)
class Delivered:
    shipment: Shipment
    at: datetime


@dataclass(frozen=True, slots=True)
class Captured:
    amount: Decimal
    #: The payment service's reference of the capture.
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class RefundFailed:
    #: The refund as it was requested.
    refund: Refund
    reason: str


@dataclass(frozen=True, slots=True)
class RefundRetried:
    refund: Refund


@dataclass(frozen=True, slots=True)
class Settled:
    """The command's money change settled: documents issued, payment position moved."""

    settlement: Settlement


@dataclass(frozen=True, slots=True)
class FulfilmentChanged:
    """Lines the warehouse must now pick, pack or send differently: their open units and
    hold as they were before the command, and whether the delivery moved."""

    to_ship: dict[str, int]
    held: dict[str, bool]
    delivery_moved: bool


OrderEvent = (
    Placed | Amended | Cancelled | DeliveryChanged | ShortPicked | Discounted | ReturnStep
    | Backordered | Shipped | Delivered | Captured | RefundFailed | RefundRetried | Settled
    | FulfilmentChanged
)  # fmt: skip


def tells_customer(happened: Iterable[OrderEvent]) -> bool:
    """Whether the customer is e-mailed about this command's change with a comparison to what
    they were told before (order changed or cancelled, an item short, a return received or
    decided). Only such a command moves what the customer was told; a capture, a shipment,
    a discount or a return authorised e-mails no comparison, so the next e-mail still
    compares with the last one that did. (Placing an order sets it in `create_order`.)"""
    return any(
        isinstance(e, Amended | Cancelled | DeliveryChanged | ShortPicked)
        or (isinstance(e, ReturnStep) and e.step in ("received", "decided"))
        for e in happened
    )
