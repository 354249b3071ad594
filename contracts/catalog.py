"""The catalogue flow: SKUs and their prices per currency."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.common import Amount, CommandData, Currency, Sku, Wire


class CatalogItem(Wire):
    """One SKU as the storefront sells it, with a price per currency: net of tax, or tax
    included where that currency's market says so (`ordercare market`)."""

    sku: Sku
    name: str = Field(min_length=1, max_length=200)
    prices: dict[Currency, Amount] = Field(min_length=1)
    tax_class: str = Field(pattern=r"^[a-z][a-z_]{0,31}$", examples=["standard"])
    backorderable: bool = False
    active: bool = True


class UpsertCatalog(CommandData):
    """Sent by the storefront import or a manager: create or replace SKUs."""

    TYPE: ClassVar[str] = "catalog.upsert"

    items: list[CatalogItem] = Field(min_length=1, max_length=1000)
