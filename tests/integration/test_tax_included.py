"""Tax-included prices through RabbitMQ and PostgreSQL: an operator sets the EUR market with
`ordercare market set`, a storefront places Ada's order with pika, an agent discounts and
amends it, and the outcome, the events and the rows say what the customer pays.

Ada's order: two organic tees at 25.00 and a grey hoodie at 59.90, standard delivery 4.95,
prices including 19 % VAT: 114.85, of which 7.98 + 9.56 + 0.79 = 18.33 VAT.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from actors.settings import Settings
from tests import messages as m
from tests.integration.test_operator_commands import Cli

from .conftest import Pipeline, query, run

BERLIN_TOTAL = "114.85"


@pytest.fixture
def shop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """The operator's step, before any worker reads the reference data."""
    cli = Cli(settings, monkeypatch, capsys)
    code, out, err = cli("market", "set", "EUR", "--prices", "tax-included")
    assert code == 0, err
    assert out.startswith("EUR prices are tax-included for orders placed from now on")
    return cli


def placed(pipeline: Pipeline) -> dict[str, Any]:
    for doc in (m.catalog(), m.account()):
        assert run(pipeline, doc)[0]["type"] == "command.accepted"
    create = m.order("ord_1001", authorized=BERLIN_TOTAL, captured=BERLIN_TOTAL)
    outcome, events = run(pipeline, create)
    assert outcome["type"] == "command.accepted", outcome
    data: dict[str, Any] = events["order.created"]["data"]
    return data


def test_an_order_in_a_tax_included_market_costs_its_catalogue_prices(
    shop: Cli, pipeline: Pipeline
) -> None:
    created = placed(pipeline)

    assert created["totals"] == {
        "currency": "EUR", "tax_included": True, "subtotal": "109.90", "discounts": "0.00",
        "shipping": "4.95", "tax": "18.33", "total": BERLIN_TOTAL,
    }  # fmt: skip
    assert [(x["unit_price"], x["net"], x["tax"]) for x in created["lines"]] == [
        ("25.00", "42.02", "7.98"),
        ("59.90", "50.34", "9.56"),
    ]
    assert query(pipeline, "SELECT tax_included, total FROM orders") == [(True, Decimal("114.85"))]
    assert query(pipeline, "SELECT net, tax, total FROM invoices") == [
        (Decimal("96.52"), Decimal("18.33"), Decimal("114.85"))
    ]


def test_fifteen_off_lowers_what_the_customer_pays_by_exactly_fifteen(
    shop: Cli, pipeline: Pipeline
) -> None:
    placed(pipeline)

    offer = m.appeasement("appeasement.offer", m.MANAGER, kind="discount", order_id="ord_1001",
                          line_id="l2", amount="15.00", reason="late_delivery")  # fmt: skip
    outcome, events = run(pipeline, offer)

    assert outcome["type"] == "command.accepted", outcome
    discounted = events["order.discounted"]["data"]
    assert (discounted["old_totals"]["total"], discounted["new_totals"]["total"]) == (
        "114.85",
        "99.85",
    )
    memo = events["credit_memo.issued"]["data"]["credit_memo"]
    # 59.90 incl. 9.56 VAT becomes 44.90 incl. 7.17 VAT: 12.61 net and 2.39 VAT credited
    assert [(x["reason"], x["net"], x["tax"]) for x in memo["lines"]] == [
        ("goodwill_discount", "12.61", "2.39")
    ]
    assert memo["total"] == "15.00"
    assert events["refund.requested"]["data"]["refund"]["amount"] == "15.00"


def test_a_mixed_amendment_in_a_tax_included_market_is_one_credit_memo(
    shop: Cli, pipeline: Pipeline
) -> None:
    placed(pipeline)

    # one tee less (-25.00), a book at 7 % (+18.00): 7.00 less to pay, in one memo
    outcome, events = run(pipeline, m.amend("ord_1001", [
        {"action": "set_quantity", "line_id": "l1", "quantity": 1},
        {"action": "add", "sku": "BOOK-CARE-GUIDE", "quantity": 1},
    ]))  # fmt: skip

    assert outcome["type"] == "command.accepted", outcome
    settlement = events["order.amended"]["data"]["settlement"]
    assert settlement["difference"] == "-7.00"
    assert settlement["invoice_id"] is None
    [memo] = settlement["credit_memos"]
    assert [(x["reason"], x["line_id"], x["net"], x["tax"]) for x in memo["lines"]] == [
        ("quantity_reduced", "l1", "21.01", "3.99"),
        ("line_added", "l3", "-16.82", "-1.18"),
    ]
    assert memo["total"] == "7.00"
    assert query(pipeline, "SELECT count(*) FROM invoices") == [(1,)]


def test_a_market_cannot_be_set_for_a_currency_ordercare_does_not_know(shop: Cli) -> None:
    code, _out, err = shop("market", "set", "XBT", "--prices", "tax-included")

    assert code == 2
    assert err.startswith("ordercare: currency XBT is not supported (supported: AUD, ")
    listed = shop.json("market", "list")
    assert (listed["EUR"], listed["USD"]) == ("tax-included", "tax-excluded")
