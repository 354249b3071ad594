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


@dataclass(frozen=True, slots=True)
class ToldLine:
    """A line as the customer was last told of it."""

    sku: str
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Told:
    """The order's total and lines (by line id) as the customer was last told of them."""

    total: Decimal
    lines: dict[str, ToldLine] = field(default_factory=dict)


#: What a customer who was told nothing knows: an order created without an e-mail.
NOTHING = Told(Decimal(0))


def told_of(lines: Iterable[Line], total: Decimal) -> Told:
    """An order's lines and total as they stand, as the customer is about to be told."""
    told = {
        ln.line_id: ToldLine(ln.sku, ln.name, ln.quantity, ln.unit_price)
        for ln in lines
        if ln.quantity > 0
    }
    return Told(total, told)
