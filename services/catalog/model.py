"""A catalogue entry."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A SKU with its prices per currency (net, or tax included in a tax-included market)."""

    sku: str
    name: str
    prices: dict[str, Decimal]
    tax_class: str
    backorderable: bool = False
    active: bool = True
