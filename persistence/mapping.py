"""The order aggregate to and from its JSON document. Decimals travel as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from persistence.sql import doc as parse_doc
from persistence.sql import stamp
from services.orders.model import DeliveryInfo, InvoiceRef, Line, Order, PaymentFacts


def order_to_doc(order: Order) -> dict[str, Any]:
    d, p = order.delivery, order.payment
    return {
        "lines": [
            [
                ln.line_id,
                ln.sku,
                ln.name,
                str(ln.unit_price),
                ln.tax_class,
                ln.ordered,
                ln.cancelled,
                ln.shipped,
                ln.delivered,
            ]
            for ln in order.lines
        ],
        "delivery": {
            "method": d.method,
            "country": d.country,
            "fee": str(d.fee),
            "address": d.address,
            "pickup_location_id": d.pickup_location_id,
        },
        "tax_rates": {c: str(r) for c, r in order.tax_rates.items()},
        "payment": [str(p.authorized), str(p.captured), str(p.refunded), p.reference],
        "invoices": [[i.invoice_id, str(i.total), str(i.credited)] for i in order.invoices],
    }


def order_from_row(row: tuple[Any, ...]) -> Order:
    """(id, account_id, currency, status, version, doc, created_at, updated_at) to the aggregate."""
    order_id, account_id, currency, status, version, raw, created_at, updated_at = row
    doc = parse_doc(raw)
    d, p = doc["delivery"], doc["payment"]
    return Order(
        order_id=order_id,
        account_id=account_id,
        currency=currency,
        status=status,
        version=version,
        lines=[
            Line(a, b, c, Decimal(e), f, g, h, i, j) for a, b, c, e, f, g, h, i, j in doc["lines"]
        ],
        delivery=DeliveryInfo(
            d["method"], d["country"], Decimal(d["fee"]), d["address"], d["pickup_location_id"]
        ),
        tax_rates={c: Decimal(r) for c, r in doc["tax_rates"].items()},
        payment=PaymentFacts(Decimal(p[0]), Decimal(p[1]), Decimal(p[2]), p[3]),
        created_at=_aware(stamp(created_at)),
        updated_at=_aware(stamp(updated_at)),
        invoices=[InvoiceRef(i, Decimal(t), Decimal(c)) for i, t, c in doc["invoices"]],
    )


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
