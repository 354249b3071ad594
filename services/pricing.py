"""The one pricing function. Every command that changes an order's money goes through it.

Rules: an order's prices are either net of tax (tax-exclusive, US-style: tax is added on
top) or what the customer pays (tax-included, EU/UK/AU consumer prices: tax is extracted
from them); which one is the order's `tax_included`, fixed when it was placed from its
currency's market setting. Catalogue prices, discounts, appeasements and fees all mean the
same kind of amount as the order's prices.

- Tax-exclusive: net = qty x price - discount, rounded half-up to the currency's minor unit;
  tax = net x rate, rounded half-up.
- Tax-included: gross = qty x price - discount, rounded half-up; tax = gross x rate / (1 +
  rate), rounded half-up; net = gross - tax. "15.00 off" lowers what the customer pays by
  exactly 15.00.

Totals are sums of the rounded parts. Shipping is charged while at least one unit is still
to be delivered, at the destination's rate for the shipping tax class, in the same mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.errors import Invalid
from services.money import ZERO, round_money, total

#: The tax class shipping fees are taxed at.
SHIPPING_TAX_CLASS = "standard"


@dataclass(frozen=True, slots=True)
class LineInput:
    """A line as the pricing function sees it: live units, unit price (in the order's price
    terms), tax class, and the discount on the live units (same terms)."""

    line_id: str
    quantity: int
    unit_price: Decimal
    tax_class: str
    discount: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line's rounded money. `amount` (quantity x unit price) and `discount` are in the
    order's price terms (tax included or not); `net` and `tax` are net of tax and the tax."""

    line_id: str
    amount: Decimal
    discount: Decimal
    net: Decimal
    tax_rate: Decimal
    tax: Decimal

    @property
    def charged(self) -> Decimal:
        """The amount after discount, in the order's price terms: what a discount can take."""
        return self.amount - self.discount

    @property
    def total(self) -> Decimal:
        """What the customer pays for the line, tax included."""
        return self.net + self.tax


@dataclass(frozen=True, slots=True)
class Priced:
    """An order's totals. `subtotal`, `discounts` and `shipping` are in the order's price
    terms; `tax` is the tax in them. Tax-exclusive: `total` = subtotal - discounts + shipping
    + tax. Tax-included: `total` = subtotal - discounts + shipping, of which `tax` is tax."""

    currency: str
    tax_included: bool
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discounts: Decimal
    shipping: Decimal
    shipping_tax: Decimal
    tax: Decimal
    total: Decimal
    #: The lines by id, so that looking every line up is not quadratic in their number.
    by_id: dict[str, PricedLine] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {p.line_id: p for p in self.lines})

    def line(self, line_id: str) -> PricedLine:
        """The priced line with that id."""
        return self.by_id[line_id]

    @property
    def shipping_net(self) -> Decimal:
        """Shipping net of tax."""
        return self.shipping - self.shipping_tax if self.tax_included else self.shipping

    @property
    def net(self) -> Decimal:
        """The total net of tax."""
        return self.total - self.tax


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


def split_tax(
    amount: Decimal, rate: Decimal, currency: str, *, tax_included: bool
) -> tuple[Decimal, Decimal]:
    """(net, tax) of a rounded amount in price terms: tax added on top (tax-exclusive) or
    extracted from it (tax-included), rounded half-up to the minor unit."""
    if tax_included:
        tax = round_money(amount * rate / (1 + rate), currency)
        return amount - tax, tax
    return amount, round_money(amount * rate, currency)


def price_line(
    line: LineInput,
    currency: str,
    rates: Mapping[str, Decimal],
    country: str,
    *,
    tax_included: bool = False,
) -> PricedLine:
    """Round one line: qty x price - discount (never below zero), then its tax."""
    amount = round_money(line.unit_price * line.quantity, currency)
    discount = min(round_money(line.discount, currency), amount)
    rate = tax_rate(rates, line.tax_class, country)
    net, tax = split_tax(amount - discount, rate, currency, tax_included=tax_included)
    return PricedLine(line.line_id, amount, discount, net, rate, tax)


def price_order(
    currency: str,
    lines: Iterable[LineInput],
    *,
    country: str,
    rates: Mapping[str, Decimal],
    shipping_fee: Decimal,
    tax_included: bool = False,
    charge_shipping: bool | None = None,
) -> Priced:
    """Totals of an order shipped to `country` with the rates of that destination.
    `charge_shipping` overrides the rule that shipping is charged while a unit is live."""
    inputs = tuple(lines)
    priced = tuple(
        price_line(line, currency, rates, country, tax_included=tax_included) for line in inputs
    )
    live = any(line.quantity > 0 for line in inputs) if charge_shipping is None else charge_shipping
    shipping = round_money(shipping_fee if live else ZERO, currency)
    rate = tax_rate(rates, SHIPPING_TAX_CLASS, country)
    shipping_tax = split_tax(shipping, rate, currency, tax_included=tax_included)[1]
    subtotal = total((p.amount for p in priced), currency)
    discounts = total((p.discount for p in priced), currency)
    tax = total((p.tax for p in priced), currency) + shipping_tax
    return Priced(
        currency=currency,
        tax_included=tax_included,
        lines=priced,
        subtotal=subtotal,
        discounts=discounts,
        shipping=shipping,
        shipping_tax=shipping_tax,
        tax=tax,
        total=subtotal - discounts + shipping + (ZERO if tax_included else tax),
    )
