"""Turning a CreateOrder into lines and a delivery, checked against catalogue and reference data."""

from __future__ import annotations

from decimal import Decimal

from contracts.orders import CreateOrder, Delivery
from services.addresses import validate_address
from services.catalog.model import CatalogEntry
from services.errors import Invalid, NotFound
from services.money import is_rounded
from services.orders.model import DeliveryInfo, Line, PaymentFacts
from services.ports import Reference


def resolve_delivery(
    delivery: Delivery, currency: str, reference: Reference, at: str = "data.delivery"
) -> DeliveryInfo:
    """Check the method against the address or pickup location and price its fee. `at` is
    where the delivery's fields are in the message, for the errors."""
    method = reference.delivery_method(delivery.method)
    if method is None or not method.active:
        raise NotFound(f"delivery method '{delivery.method}' does not exist", field=f"{at}.method")
    fee = method.fees.get(currency)
    if fee is None:
        raise Invalid(
            f"delivery method '{method.code}' has no fee in {currency}",
            field=f"{at}.method",
        )
    if method.kind == "pickup":
        if delivery.pickup_location_id is None:
            raise Invalid(
                f"delivery method '{method.code}' needs a pickup_location_id",
                field=f"{at}.pickup_location_id",
            )
        return pickup_delivery(delivery.pickup_location_id, method.code, fee, reference, at)
    if delivery.address is None:
        raise Invalid(f"delivery method '{method.code}' needs an address", field=f"{at}.address")
    validate_address(delivery.address, f"{at}.address")
    return DeliveryInfo(
        method.code, delivery.address.country, fee, address=delivery.address.model_dump()
    )


def pickup_delivery(
    location_id: str, method: str, fee: Decimal, reference: Reference, at: str
) -> DeliveryInfo:
    """Delivery to a pickup location, which must exist and be active."""
    location = reference.pickup_location(location_id)
    if location is None:
        raise NotFound(
            f"pickup location '{location_id}' does not exist",
            field=f"{at}.pickup_location_id",
        )
    if not location.active:
        raise Invalid(
            f"pickup location '{location.location_id}' is not active",
            field=f"{at}.pickup_location_id",
        )
    return DeliveryInfo(method, location.country, fee, pickup_location_id=location.location_id)


def catalog_price(
    sku: str, currency: str, entries: dict[str, CatalogEntry], field: str
) -> tuple[CatalogEntry, Decimal]:
    """A SKU's catalogue entry and its price in the currency, or why it cannot be sold."""
    entry = entries.get(sku)
    if entry is None:
        raise NotFound(f"SKU {sku} is not in the catalogue", field=field)
    if not entry.active:
        raise Invalid(f"SKU {sku} is not for sale", field=field)
    price = entry.prices.get(currency)
    if price is None:
        raise Invalid(f"SKU {sku} has no {currency} price", field=field)
    return entry, price


def build_lines(cmd: CreateOrder, entries: dict[str, CatalogEntry]) -> list[Line]:
    """Price each line from the catalogue; line ids l1, l2, … unless the client chose them."""
    chosen = [new.line_id for new in cmd.lines if new.line_id]
    if len(set(chosen)) != len(chosen):
        raise Invalid("line ids must be unique within an order", field="data.lines")
    free = (f"l{n}" for n in range(1, 2 * len(cmd.lines) + 1) if f"l{n}" not in chosen)
    lines = []
    for n, new in enumerate(cmd.lines):
        entry, price = catalog_price(new.sku, cmd.currency, entries, f"data.lines.{n}.sku")
        line_id = new.line_id or next(free)
        lines.append(Line(line_id, new.sku, entry.name, price, entry.tax_class, new.quantity))
    return lines


def payment_facts(cmd: CreateOrder) -> PaymentFacts:
    """The checkout payment, refusing amounts finer than the currency's minor unit."""
    for name in ("authorized", "captured"):
        amount = getattr(cmd.payment, name)
        if not is_rounded(amount, cmd.currency):
            raise Invalid(
                f"payment.{name} {amount} has more decimals than {cmd.currency} allows",
                field=f"data.payment.{name}",
            )
    return PaymentFacts(
        cmd.payment.authorized, cmd.payment.captured, reference=cmd.payment.reference
    )
