"""What the customer was last told of an order: the baseline the next e-mail compares with.

A change made with `notify_customer: false` is not e-mailed, so it does not move the
baseline: the next e-mail the customer gets compares with what they were told, and shows
the suppressed change's edits among its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from services.orders.parts import Line
from services.orders.settlement import PaymentState


@dataclass(frozen=True, slots=True)
class ToldLine:
    """A line as the customer was last told of it."""

    sku: str
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Told:
    """The order's total and lines (by line id) as the customer was last told of them, and
    the money as it stood then: refunded so far, authorised money still to capture, and
    captured so far (so that a capture since is not mistaken for money no longer charged)."""

    total: Decimal
    lines: dict[str, ToldLine] = field(default_factory=dict)
    refunded: Decimal = Decimal(0)
    to_capture: Decimal = Decimal(0)
    captured: Decimal = Decimal(0)


#: What a customer who was told nothing knows: an order created without an e-mail.
NOTHING = Told(Decimal(0))


def told_of(lines: Iterable[Line], total: Decimal, payment: PaymentState) -> Told:
    """An order's lines, total and money as they stand, as the customer is about to be told."""
    told = {
        ln.line_id: ToldLine(ln.sku, ln.name, ln.quantity, ln.unit_price)
        for ln in lines
        if ln.quantity > 0
    }
    return Told(total, told, payment.refunded, payment.to_capture, payment.captured)
