"""Fees an order carries beside its lines."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.pricing import LineInput


@dataclass(frozen=True, slots=True)
class Charge:
    """A fee the order carries beside its lines (a restocking fee, return shipping): priced
    like a line of one unit, taxed at its tax class. Its id starts with '#' so that no line
    id can take it. `net` is the fee in the order's price terms: tax included when the
    order's prices include tax (the name is the stored document's)."""

    charge_id: str
    kind: str
    description: str
    net: Decimal
    tax_class: str = "standard"
    reference: str | None = None

    def as_input(self) -> LineInput:
        return LineInput(self.charge_id, 1, self.net, self.tax_class)
