"""Orders built straight from the aggregate, with memorable data."""

from __future__ import annotations

from decimal import Decimal

from services.ledger import Invoice
from services.orders.model import DeliveryInfo, Line, Order, PaymentFacts
from services.pricing import price_order

from .fakes import NOW, TAX_TABLE

BERLIN = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "line2": None,
    "city": "Berlin",
    "region": None,
    "postal_code": "10117",
    "country": "DE",
    "phone": None,
}


def mugs_and_book() -> list[Line]:
    """Two 'Ada Lovelace' mugs (standard VAT) and one 'Analytical Engine' book (reduced)."""
    return [
        Line("l1", "MUG-ADA", "Ada Lovelace mug", Decimal("12.30"), "standard", 2),
        Line("l2", "BOOK-ENGINE", "The Analytical Engine", Decimal("24.99"), "reduced", 1),
    ]


def total_of(
    lines: list[Line], currency: str, country: str, fee: Decimal, rates: dict[str, Decimal]
) -> Decimal:
    """What the order will cost, from the one pricing function."""
    return price_order(
        currency, (x.as_input() for x in lines), country=country, rates=rates, shipping_fee=fee
    ).total


def place(
    *,
    order_id: str = "ord_ada_1",
    currency: str = "EUR",
    lines: list[Line] | None = None,
    country: str = "DE",
    fee: Decimal = Decimal("4.95"),
    rates: dict[str, Decimal] | None = None,
    authorized: Decimal | None = None,
    captured: Decimal | None = None,
) -> tuple[Order, Invoice]:
    """Place an order; authorised and captured default to exactly its total."""
    lines = mugs_and_book() if lines is None else lines
    rates = TAX_TABLE[country] if rates is None else rates
    total = total_of(lines, currency, country, fee, rates)
    return Order.place(
        order_id=order_id,
        account_id="acc_ada",
        currency=currency,
        lines=lines,
        delivery=DeliveryInfo("standard", country, fee, address=dict(BERLIN)),
        tax_rates=rates,
        payment=PaymentFacts(
            total if authorized is None else authorized,
            total if captured is None else captured,
            reference="psp_ch_4242",
        ),
        invoice_id="inv_ada_1",
        now=NOW,
    )
