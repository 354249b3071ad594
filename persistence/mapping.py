"""The order aggregate to and from its JSON document. Decimals travel as strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from persistence.sql import doc as parse_doc
from persistence.sql import stamp
from services.orders.charges import Charge
from services.orders.model import (
    DeliveryInfo,
    InvoiceRef,
    Line,
    Order,
    PaymentFacts,
    Shipment,
)
from services.orders.returns import Return, ReturnLine


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
                ln.backordered,
                ln.expected_date.isoformat() if ln.expected_date else None,
                ln.replaces,
                ln.price_override,
                [[str(each), units] for each, units in ln.discounts],
                ln.returned,
                ln.exchange_for,
                ln.hold,
            ]
            for ln in order.lines
        ],
        "charges": [
            [c.charge_id, c.kind, c.description, str(c.net), c.tax_class, c.reference]
            for c in order.charges
        ],
        "shipping_refunded": order.shipping_refunded,
        "returns": [_return_doc(r) for r in order.returns],
        "shipments": [
            [
                s.shipment_id,
                s.carrier,
                s.tracking_number,
                s.tracking_url,
                s.lines,
                s.shipped_at.isoformat(),
                s.delivered_at.isoformat() if s.delivered_at else None,
            ]
            for s in order.shipments
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
        lines=[_line(*fields) for fields in doc["lines"]],
        delivery=DeliveryInfo(
            d["method"], d["country"], Decimal(d["fee"]), d["address"], d["pickup_location_id"]
        ),
        tax_rates={c: Decimal(r) for c, r in doc["tax_rates"].items()},
        payment=PaymentFacts(Decimal(p[0]), Decimal(p[1]), Decimal(p[2]), p[3]),
        created_at=_aware(stamp(created_at)),
        updated_at=_aware(stamp(updated_at)),
        invoices=[InvoiceRef(i, Decimal(t), Decimal(c)) for i, t, c in doc["invoices"]],
        shipments=[
            Shipment(i, carrier, number, url, lines, _instant(at), _instant(done) if done else None)
            for i, carrier, number, url, lines, at, done in doc.get("shipments", [])
        ],
        charges=[
            Charge(i, kind, text, Decimal(net), tax_class, ref)
            for i, kind, text, net, tax_class, ref in doc.get("charges", [])
        ],
        shipping_refunded=doc.get("shipping_refunded", False),
        returns=[_return_from(r) for r in doc.get("returns", [])],
    )


def _return_doc(rma: Return) -> dict[str, Any]:
    return {
        "id": rma.return_id,
        "status": rma.status,
        "method": rma.method,
        "lines": [
            [
                rl.line_id,
                rl.sku,
                rl.quantity,
                rl.reason,
                rl.received,
                rl.refunded,
                rl.restocking_fee,
                rl.refused,
                rl.missing,
                rl.awaiting,
                rl.credited_in_advance,
                rl.advance_left,
            ]
            for rl in rma.lines
        ],
        "created_at": rma.created_at.isoformat(),
        "return_by": rma.return_by.isoformat(),
        "replacements": rma.replacement_line_ids,
        "advance": rma.advance,
        "window_override": rma.window_override,
        "received_at": rma.received_at.isoformat() if rma.received_at else None,
        "exceptions": rma.exceptions,
        "settle_to": rma.settle_to,
    }


def _return_from(d: dict[str, Any]) -> Return:
    return Return(
        d["id"],
        d["status"],
        d["method"],
        [ReturnLine(*fields) for fields in d["lines"]],
        _instant(d["created_at"]),
        _instant(d["return_by"]),
        d["replacements"],
        d["advance"],
        d["window_override"],
        _instant(d["received_at"]) if d["received_at"] else None,
        d["exceptions"],
        d.get("settle_to", "original_payment"),
    )


def _line(
    line_id: str,
    sku: str,
    name: str,
    price: str,
    tax_class: str,
    ordered: int,
    cancelled: int,
    shipped: int,
    delivered: int,
    backordered: int = 0,
    expected: str | None = None,
    replaces: str | None = None,
    override: bool = False,
    discounts: list[list[Any]] | None = None,
    returned: int = 0,
    exchange_for: str | None = None,
    hold: bool = False,
) -> Line:
    """A stored line; documents written before backorders existed have nine fields, before
    returns and appeasements thirteen."""
    return Line(
        line_id,
        sku,
        name,
        Decimal(price),
        tax_class,
        ordered,
        cancelled,
        shipped,
        delivered,
        backordered,
        date.fromisoformat(expected) if expected else None,
        replaces,
        override,
        [(Decimal(each), int(units)) for each, units in discounts or []],
        returned,
        exchange_for,
        hold,
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
