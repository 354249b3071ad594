"""The one pricing function: per-line rounding, sums of rounded parts, tax by destination."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.errors import Invalid
from services.pricing import LineInput, price_line, price_order

from .fakes import TAX_TABLE

DE = TAX_TABLE["DE"]
FR = TAX_TABLE["FR"]
NO_SHIPPING = Decimal("0")


def line(
    line_id: str, quantity: int, price: str, tax_class: str = "standard", discount: str = "0"
) -> LineInput:
    return LineInput(line_id, quantity, Decimal(price), tax_class, Decimal(discount))


def test_a_german_mug_order_is_priced_line_by_line_with_shipping_and_vat() -> None:
    # Given two "Ada Lovelace" mugs at 12.30 and a 4.95 standard delivery to Berlin
    priced = price_order(
        "EUR", [line("l1", 2, "12.30")], country="DE", rates=DE, shipping_fee=Decimal("4.95")
    )

    # Then the line is 24.60 net, 4.674 → 4.67 VAT; shipping 0.9405 → 0.94 VAT
    assert priced.line("l1").net == Decimal("24.60")
    assert priced.line("l1").tax == Decimal("4.67")
    assert priced.shipping == Decimal("4.95")
    assert priced.shipping_tax == Decimal("0.94")
    assert priced.tax == Decimal("5.61")
    assert str(priced.total) == "35.16"


def test_totals_are_sums_of_rounded_parts_not_rounded_sums() -> None:
    # Two lines of 1.05 at 10 %: each line's tax 0.105 rounds to 0.11, so the order's
    # tax is 0.22, where rounding the sum (2.10 x 10 % = 0.21) would lose a cent.
    rates = {"standard": Decimal("0.10")}
    priced = price_order(
        "EUR",
        [line("l1", 1, "1.05"), line("l2", 1, "1.05")],
        country="XX",
        rates=rates,
        shipping_fee=NO_SHIPPING,
    )

    assert [p.tax for p in priced.lines] == [Decimal("0.11"), Decimal("0.11")]
    assert priced.tax == Decimal("0.22")
    assert priced.total == Decimal("2.32")


def test_a_line_is_rounded_once_after_multiplying_price_by_quantity() -> None:
    priced = price_line(line("l1", 3, "0.335"), "EUR", {"standard": Decimal(0)}, "DE")

    assert priced.amount == Decimal("1.01")  # 1.005 half-up, not 3 x 0.34 = 1.02


def test_yen_amounts_have_no_decimals() -> None:
    # Three Totoro plushies at 1,999 yen to Tokyo, 10 % consumption tax, 800 yen shipping
    priced = price_order(
        "JPY",
        [line("l1", 3, "1999")],
        country="JP",
        rates=TAX_TABLE["JP"],
        shipping_fee=Decimal("800"),
    )

    assert priced.line("l1").tax == Decimal("600")  # 599.7 rounds half-up to 600
    assert priced.shipping_tax == Decimal("80")
    assert str(priced.total) == "7477"


def test_dinar_amounts_keep_three_decimals() -> None:
    rates = {"standard": Decimal("0.05")}
    priced = price_order(
        "KWD", [line("l1", 1, "2.345")], country="KW", rates=rates, shipping_fee=Decimal("1.5")
    )

    assert str(priced.line("l1").tax) == "0.117"  # 0.11725
    assert str(priced.shipping) == "1.500"
    assert str(priced.shipping_tax) == "0.075"
    assert str(priced.total) == "4.037"


@pytest.mark.parametrize(
    ("rates", "tax_class", "tax"),
    [
        (DE, "standard", "1.90"),
        (DE, "reduced", "0.70"),
        (DE, "zero", "0.00"),
        (FR, "reduced", "0.55"),
    ],
)
def test_tax_depends_on_the_line_tax_class_and_the_destination(
    rates: dict[str, Decimal], tax_class: str, tax: str
) -> None:
    priced = price_line(line("l1", 1, "10.00", tax_class), "EUR", rates, "DE")

    assert priced.tax_rate == rates[tax_class]
    assert str(priced.tax) == tax


def test_shipping_is_taxed_at_the_standard_rate_even_when_every_line_is_reduced() -> None:
    # A book (reduced VAT, 7 %) shipped to Germany: shipping carries the 19 % rate
    priced = price_order(
        "EUR",
        [line("l1", 1, "20.00", "reduced")],
        country="DE",
        rates=DE,
        shipping_fee=Decimal("4.95"),
    )

    assert priced.line("l1").tax == Decimal("1.40")
    assert priced.shipping_tax == Decimal("0.94")
    assert priced.tax == Decimal("2.34")


def test_shipping_is_charged_only_while_units_remain_to_be_delivered() -> None:
    live = price_order(
        "EUR",
        [line("l1", 0, "9.99"), line("l2", 1, "5.00")],
        country="DE",
        rates=DE,
        shipping_fee=Decimal("4.95"),
    )
    all_cancelled = price_order(
        "EUR",
        [line("l1", 0, "9.99"), line("l2", 0, "5.00")],
        country="DE",
        rates=DE,
        shipping_fee=Decimal("4.95"),
    )

    assert live.shipping == Decimal("4.95")
    assert all_cancelled.shipping == Decimal("0")
    assert all_cancelled.shipping_tax == Decimal("0")
    assert all_cancelled.total == Decimal("0")


def test_a_discount_never_takes_a_line_below_zero() -> None:
    priced = price_line(line("l1", 1, "10.00", discount="15.00"), "EUR", DE, "DE")

    assert priced.discount == Decimal("10.00")
    assert priced.net == Decimal("0")
    assert priced.tax == Decimal("0")


def test_the_total_is_subtotal_minus_discounts_plus_shipping_plus_tax() -> None:
    priced = price_order(
        "EUR",
        [line("l1", 2, "19.99", discount="5.555"), line("l2", 1, "7.49", "reduced")],
        country="DE",
        rates=DE,
        shipping_fee=Decimal("4.95"),
    )

    assert priced.subtotal == Decimal("47.47")
    assert priced.discounts == Decimal("5.56")
    assert priced.total == priced.subtotal - priced.discounts + priced.shipping + priced.tax
    assert priced.tax == Decimal("8.00")  # 6.54 + 0.52 + 0.94 shipping
    assert priced.total == Decimal("54.86")


def test_a_missing_tax_rate_for_a_line_class_is_invalid() -> None:
    with pytest.raises(Invalid) as refused:
        price_order(
            "EUR",
            [line("l1", 1, "3.00", "luxury")],
            country="DE",
            rates=DE,
            shipping_fee=NO_SHIPPING,
        )

    assert refused.value.details == {
        "field": "data.delivery",
        "tax_class": "luxury",
        "country": "DE",
    }
    assert "luxury" in refused.value.message


def test_a_destination_without_a_standard_rate_cannot_tax_its_shipping() -> None:
    with pytest.raises(Invalid) as refused:
        price_order(
            "EUR",
            [line("l1", 1, "3.00", "reduced")],
            country="XX",
            rates={"reduced": Decimal("0.05")},
            shipping_fee=Decimal("4.95"),
        )

    assert refused.value.details["tax_class"] == "standard"


def test_an_unsupported_currency_is_invalid() -> None:
    with pytest.raises(Invalid) as refused:
        price_order(
            "XBT", [line("l1", 1, "3.00")], country="DE", rates=DE, shipping_fee=NO_SHIPPING
        )

    assert refused.value.details == {"field": "data.currency", "currency": "XBT"}
