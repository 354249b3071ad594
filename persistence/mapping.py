"""The order aggregate to and from its row: the document's codec is persistence/documents.py."""

from __future__ import annotations

from typing import Any

from persistence.documents import order_document, read_order
from services.orders.model import Order


def order_to_doc(order: Order) -> dict[str, Any]:
    """The `orders.doc` column: the keyed document at the current version."""
    return order_document(order)


def order_from_row(row: tuple[Any, ...]) -> Order:
    """(id, account_id, currency, status, version, doc, created_at, updated_at, tax_included)
    to the aggregate;
    the document may be of any version this release reads (an older worker may have written it)."""
    order_id, account_id, currency, status, version, raw, created_at, updated_at, included = row
    parts = read_order(raw, f"order {order_id}")
    return Order(
        order_id=order_id,
        account_id=account_id,
        currency=currency,
        status=status,
        version=version,
        lines=parts.lines,
        delivery=parts.delivery,
        tax_rates=parts.tax_rates,
        payment=parts.payment,
        created_at=created_at,
        updated_at=updated_at,
        invoices=parts.invoices,
        shipments=parts.shipments,
        charges=parts.charges,
        returns=parts.returns,
        shipping_refunded=parts.shipping_refunded,
        tax_included=included,
        told=parts.told,
    )
