"""Orders built straight from the aggregate, with memorable data."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.common import CommandData, Inbound
from contracts.fulfillment import Shipped
from contracts.orders import CreateOrder
from services.accounts.model import Account
from services.catalog.model import CatalogEntry
from services.context import Change, CommandHandler
from services.ids import IdFactory
from services.ledger import Invoice, SettleTo
from services.orders import fulfillment
from services.orders.handlers import create_order
from services.orders.model import DeliveryInfo, Line, Order, PaymentFacts
from services.orders.settlement import Settlement
from services.policy import Policy
from services.pricing import price_order

from .fakes import (
    NOW,
    TAX_TABLE,
    CountingIds,
    FakeAccounts,
    FakeCatalog,
    FakeReference,
    FakeUnitOfWork,
    context,
)

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
    lines: list[Line],
    currency: str,
    country: str,
    fee: Decimal,
    rates: dict[str, Decimal],
    *,
    tax_included: bool = False,
) -> Decimal:
    """What the order will cost, from the one pricing function."""
    return price_order(
        currency,
        (x.as_input() for x in lines),
        country=country,
        rates=rates,
        shipping_fee=fee,
        tax_included=tax_included,
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
    order, invoice = Order.place(
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
    order.collect()  # as stored: a loaded order carries no events
    return order, invoice


def cancel_all(
    order: Order, *, reason: str, settle_to: SettleTo, now: datetime, ids: IdFactory
) -> Settlement:
    """What the cancel handler does with scope order: cancel, settle, step."""
    order.cancel("order", reason, settle_to)
    settlement = order.settle(now, ids)
    order.finish(now)
    order.collect()
    return settlement


# --- handler-level set-up: Ada's shop and a helpdesk that sends it messages ----------------

#: Ada's delivery address as a helpdesk sends it.
ADA_ADDRESS: dict[str, str] = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


def ada_catalogue() -> FakeCatalog:
    """Mugs and books around Ada, priced in EUR, JPY and KWD; the book can be backordered."""

    def entry(sku: str, name: str, prices: tuple[str, str, str], tax_class: str) -> CatalogEntry:
        eur, jpy, kwd = (Decimal(p) for p in prices)
        return CatalogEntry(
            sku, name, {"EUR": eur, "JPY": jpy, "KWD": kwd}, tax_class,
            backorderable=sku.startswith("BOOK"),
        )  # fmt: skip

    return FakeCatalog(
        [
            entry("MUG-ADA", "Ada Lovelace mug", ("12.30", "1800", "3.750"), "standard"),
            entry("MUG-ADA-XL", "Ada Lovelace mug XL", ("14.90", "2200", "4.550"), "standard"),
            entry("MUG-TURING", "Alan Turing mug", ("9.90", "1500", "3.050"), "standard"),
            entry("BOOK-ENGINE", "The Analytical Engine", ("24.99", "3800", "7.625"), "reduced"),
            entry("POSTER-BABBAGE", "Babbage engine poster", ("5.00", "700", "1.555"), "standard"),
            CatalogEntry(
                "DIFF-ENGINE", "Difference Engine kit", {"EUR": Decimal("99.00")}, "standard",
                active=False,
            ),
        ]
    )  # fmt: skip


class Helpdesk:
    """Ada's shop (in-memory storage) and the systems that message it: agents, the
    warehouse, the payment service. Ids are counted across messages, as in one database."""

    def __init__(self, reference: FakeReference | None = None) -> None:
        self.uow = FakeUnitOfWork(
            catalog=ada_catalogue(),
            accounts=FakeAccounts([Account("acc_ada", "Ada Lovelace", email="ada@example.org")]),
            reference=reference,
        )
        self.ids = CountingIds()
        self.sent = 0
        self.last_type = ""

    def send(
        self,
        handler: CommandHandler,
        message: type[Inbound],
        *,
        role: str = "agent",
        policy: Policy | None = None,
        now: datetime = NOW,
        **data: Any,
    ) -> Change:
        """Validate `data` as the wire would, then hand it to the handler (at `now`)."""
        self.sent += 1
        self.last_type = message.TYPE
        if issubclass(message, CommandData):
            data = {"actor": {"id": "agent-grace", "role": role}, **data}
        msg = message.model_validate(data)
        ctx = replace(
            context(message.TYPE, command_id=f"cmd_{self.sent}", role=role, now=now),
            ids=self.ids,
            policy=policy or Policy(),
            notify_customer=getattr(msg, "notify_customer", True),  # as actors/inbound.py does
        )
        return handler(msg, ctx, self.uow)

    def order(self, order_id: str = "ord_ada_1") -> Order:
        """The order as stored."""
        return self.uow.orders.orders[order_id]

    def place_ada(self, **changes: Any) -> Change:
        """Ada's order: two mugs and a book to Berlin, standard delivery, fully captured."""
        data: dict[str, Any] = {
            "order_id": "ord_ada_1",
            "account_id": "acc_ada",
            "currency": "EUR",
            "lines": [{"sku": "MUG-ADA", "quantity": 2}, {"sku": "BOOK-ENGINE", "quantity": 1}],
            "delivery": {"method": "standard", "address": ADA_ADDRESS},
            "payment": {"authorized": "61.90", "captured": "61.90", "reference": "psp_ch_4242"},
        }
        data.update(changes)
        return self.send(create_order, CreateOrder, **data)


def ship(desk: Helpdesk, shipment_id: str = "shp_1", **units: int) -> Change:
    """The Leipzig warehouse ships units of Ada's order, by line id."""
    return desk.send(
        fulfillment.shipped,
        Shipped,
        role="system",
        order_id="ord_ada_1",
        shipment_id=shipment_id,
        lines=[{"line_id": line_id, "quantity": n} for line_id, n in units.items()],
        carrier="DHL",
        tracking_number="JJD000390007",
        warehouse="wh_leipzig",
    )
