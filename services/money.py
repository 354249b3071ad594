"""Currencies and rounding: Decimal only, half-up to each currency's minor unit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from services.errors import Invalid

#: ISO 4217 minor units of the currencies OrderCare accepts.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "SGD": 2,
    "HKD": 2,
    "MXN": 2,
    "BRL": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}

_QUANTA = {code: Decimal(1).scaleb(-units) for code, units in MINOR_UNITS.items()}
ZERO = Decimal(0)


def check_currency(currency: str, field: str = "data.currency") -> None:
    """Refuse a currency OrderCare does not know the minor unit of."""
    if currency not in _QUANTA:
        supported = ", ".join(sorted(_QUANTA))
        raise Invalid(
            f"currency {currency} is not supported (supported: {supported})",
            field=field,
            currency=currency,
        )


def quantum(currency: str) -> Decimal:
    """The smallest amount of a currency (0.01 EUR, 1 JPY, 0.001 KWD)."""
    check_currency(currency)
    return _QUANTA[currency]


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def is_rounded(amount: Decimal, currency: str) -> bool:
    """Whether an amount has no digits below the currency's minor unit."""
    return amount == round_money(amount, currency)


def total(amounts: Iterable[Decimal], currency: str) -> Decimal:
    """Sum already-rounded parts, kept at the currency's scale."""
    return round_money(sum(amounts, ZERO), currency)


def allocate(amount: Decimal, weights: Mapping[str, Decimal], currency: str) -> dict[str, Decimal]:
    """Split a rounded amount over keys in proportion to their weights, in whole minor units:
    each gets its rounded-down share, and the minor units left go to the largest remainders
    (ties in key order). The parts add up to `amount` exactly."""
    step = quantum(currency)
    whole = sum(weights.values(), ZERO)
    if not weights or whole <= 0:
        raise Invalid(f"nothing to spread {amount} {currency} over")
    exact = {k: amount * w / whole for k, w in weights.items()}
    parts = {k: (v / step).to_integral_value(rounding=ROUND_FLOOR) * step for k, v in exact.items()}
    left = int((amount - sum(parts.values(), ZERO)) / step)
    for k in sorted(exact, key=lambda k: exact[k] - parts[k], reverse=True)[:left]:
        parts[k] += step
    return parts
