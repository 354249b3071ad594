"""The one pricing function. Every command that changes an order's money goes through it.

Rules: catalogue prices are net of tax; each line's net, discount and tax are rounded
half-up to the currency's minor unit; totals are sums of the rounded parts; shipping is
charged while at least one unit is still to be delivered, and taxed at the destination's
rate for the shipping tax class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.errors import Invalid
from services.money import ZERO, round_money, total

#: The tax class shipping fees are taxed at.
SHIPPING_TAX_CLASS = "standard"


@dataclass(frozen=True, slots=True)
class LineInput:
    """A line as the pricing function sees it: live units, net unit price, tax class."""

    line_id: str
    quantity: int
    unit_price: Decimal
    tax_class: str
    discount: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line's rounded money."""

    line_id: str
    gross_net: Decimal
    discount: Decimal
    net: Decimal
    tax_rate: Decimal
    tax: Decimal


@dataclass(frozen=True, slots=True)
class Priced:
    """An order's totals. `total` = subtotal - discounts + shipping + tax."""

    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discounts: Decimal
    shipping: Decimal
    shipping_tax: Decimal
    tax: Decimal
    total: Decimal

    def line(self, line_id: str) -> PricedLine:
        """The priced line with that id."""
        return next(p for p in self.lines if p.line_id == line_id)


def tax_rate(rates: Mapping[str, Decimal], tax_class: str, country: str) -> Decimal:
    """The destination's rate for a tax class; a missing rate is a configuration gap."""
    try:
        return rates[tax_class]
    except KeyError:
        raise Invalid(
            f"no tax rate for tax class '{tax_class}' in {country}: OrderCare does not deliver "
            "there yet (configure tax_rates)",
            field="data.delivery",
            tax_class=tax_class,
            country=country,
        ) from None


def price_line(
    line: LineInput, currency: str, rates: Mapping[str, Decimal], country: str
) -> PricedLine:
    """Round one line: net = qty x price - discount (never below zero), tax on the net."""
    gross = round_money(line.unit_price * line.quantity, currency)
    discount = min(round_money(line.discount, currency), gross)
    net = gross - discount
    rate = tax_rate(rates, line.tax_class, country)
    return PricedLine(line.line_id, gross, discount, net, rate, round_money(net * rate, currency))


def price_order(
    currency: str,
    lines: Iterable[LineInput],
    *,
    country: str,
    rates: Mapping[str, Decimal],
    shipping_fee: Decimal,
    charge_shipping: bool | None = None,
) -> Priced:
    """Totals of an order shipped to `country` with the rates of that destination.
    `charge_shipping` overrides the rule that shipping is charged while a unit is live."""
    inputs = tuple(lines)
    priced = tuple(price_line(line, currency, rates, country) for line in inputs)
    live = any(line.quantity > 0 for line in inputs) if charge_shipping is None else charge_shipping
    shipping = round_money(shipping_fee if live else ZERO, currency)
    shipping_tax = round_money(shipping * tax_rate(rates, SHIPPING_TAX_CLASS, country), currency)
    subtotal = total((p.gross_net for p in priced), currency)
    discounts = total((p.discount for p in priced), currency)
    tax = total((p.tax for p in priced), currency) + shipping_tax
    return Priced(
        currency=currency,
        lines=priced,
        subtotal=subtotal,
        discounts=discounts,
        shipping=shipping,
        shipping_tax=shipping_tax,
        tax=tax,
        total=subtotal - discounts + shipping + tax,
    )
