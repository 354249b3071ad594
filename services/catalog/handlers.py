"""Catalogue command handlers."""

from __future__ import annotations

from contracts.catalog import CatalogItem, UpsertCatalog
from services.catalog.model import CatalogEntry
from services.context import AuditEntry, Change, Context
from services.errors import Invalid
from services.money import check_currency, is_rounded
from services.ports import UnitOfWork


def upsert_catalog(cmd: UpsertCatalog, ctx: Context, uow: UnitOfWork) -> Change:
    classes = uow.reference.tax_classes()
    entries = [_entry(n, item, classes) for n, item in enumerate(cmd.items)]
    if len({e.sku for e in entries}) != len(entries):
        raise Invalid("each SKU may appear once per upsert", field="data.items")
    before = uow.catalog.get_many([e.sku for e in entries])
    uow.catalog.upsert(entries)
    audit = [
        AuditEntry("sku", e.sku, "catalog.upserted", _state(before.get(e.sku)), _state(e))
        for e in entries
    ]
    return Change(None, None, {"skus": [e.sku for e in entries]}, [], audit)


def _entry(n: int, item: CatalogItem, classes: frozenset[str]) -> CatalogEntry:
    if item.tax_class not in classes:
        raise Invalid(
            f"tax class '{item.tax_class}' is not configured (known: {', '.join(sorted(classes))})",
            field=f"data.items.{n}.tax_class",
        )
    for currency, price in item.prices.items():
        check_currency(currency, f"data.items.{n}.prices.{currency}")
        if price < 0 or not is_rounded(price, currency):
            raise Invalid(
                f"price {price} {currency} of {item.sku} is negative or finer than the "
                "currency allows",
                field=f"data.items.{n}.prices.{currency}",
            )
    return CatalogEntry(
        item.sku, item.name, dict(item.prices), item.tax_class, item.backorderable, item.active
    )


def _state(entry: CatalogEntry | None) -> dict[str, object] | None:
    if entry is None:
        return None
    return {
        "name": entry.name,
        "prices": {c: str(p) for c, p in entry.prices.items()},
        "tax_class": entry.tax_class,
        "backorderable": entry.backorderable,
        "active": entry.active,
    }
