"""Currencies and rounding: half-up to each currency's minor unit, Decimal only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.errors import Invalid
from services.money import check_currency, is_rounded, quantum, round_money, total


@pytest.mark.parametrize(
    ("currency", "smallest"),
    [("EUR", Decimal("0.01")), ("JPY", Decimal("1")), ("KWD", Decimal("0.001"))],
)
def test_the_smallest_amount_of_a_currency_is_its_iso_4217_minor_unit(
    currency: str, smallest: Decimal
) -> None:
    assert quantum(currency) == smallest
    assert quantum(currency).as_tuple().exponent == smallest.as_tuple().exponent


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("2.345", "EUR", "2.35"),
        ("2.344", "EUR", "2.34"),
        ("0.125", "EUR", "0.13"),  # half-up, not banker's rounding (which gives 0.12)
        ("-0.005", "EUR", "-0.01"),  # halves round away from zero
        ("0.5", "JPY", "1"),
        ("2.5", "JPY", "3"),  # banker's rounding would give 2
        ("1999.49", "JPY", "1999"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("7", "KWD", "7.000"),
    ],
)
def test_amounts_round_half_up_to_the_currency_minor_unit(
    amount: str, currency: str, rounded: str
) -> None:
    result = round_money(Decimal(amount), currency)

    assert str(result) == rounded


def test_an_amount_with_digits_below_the_minor_unit_is_not_rounded() -> None:
    assert is_rounded(Decimal("12.30"), "EUR")
    assert is_rounded(Decimal("12.3"), "EUR")
    assert not is_rounded(Decimal("12.305"), "EUR")
    assert is_rounded(Decimal("800"), "JPY")
    assert not is_rounded(Decimal("800.5"), "JPY")
    assert is_rounded(Decimal("1.500"), "KWD")
    assert not is_rounded(Decimal("1.5005"), "KWD")


def test_a_total_is_the_sum_of_its_parts_kept_at_the_currency_scale() -> None:
    assert str(total([Decimal("1.1"), Decimal("2"), Decimal("0.05")], "EUR")) == "3.15"
    assert str(total([Decimal("1.5"), Decimal("0.25")], "KWD")) == "1.750"
    assert str(total([], "JPY")) == "0"


@pytest.mark.parametrize("currency", ["XBT", "eur", "EURO", ""])
def test_a_currency_without_a_known_minor_unit_is_refused(currency: str) -> None:
    with pytest.raises(Invalid) as refused:
        round_money(Decimal("1.00"), currency)

    assert refused.value.code == "invalid"
    assert refused.value.details == {"field": "data.currency", "currency": currency}
    assert "not supported" in refused.value.message


def test_checking_a_supported_currency_passes_quietly() -> None:
    for currency in ("EUR", "JPY", "KWD", "GBP", "CHF"):
        check_currency(currency)
    with pytest.raises(Invalid):
        check_currency("BTC")
