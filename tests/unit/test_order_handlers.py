"""Order handlers with in-memory fakes: create, cancel and read an order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from contracts.fulfillment import FulfillmentChanged
from contracts.orders import (
    AuthorizationReduced,
    CancelOrder,
    CreateOrder,
    CreditMemoIssued,
    GetOrder,
    OrderCancelled,
    OrderCreated,
    RefundRequested,
)
from services.accounts.model import Account
from services.catalog.model import CatalogEntry
from services.context import Change
from services.errors import (
    AlreadyExists,
    AlreadyShipped,
    Invalid,
    NotAllowedInState,
    NotFound,
    Rejected,
    VersionConflict,
)
from services.orders.handlers import cancel_order, create_order, get_order

from .fakes import FakeAccounts, FakeCatalog, FakeUnitOfWork, context

ACTOR = {"id": "agent-grace", "role": "agent"}
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}
#: Two mugs 24.60 + 4.67 VAT, a book 24.99 + 1.75 VAT, shipping 4.95 + 0.94 VAT.
ADA_TOTAL = "61.90"


def catalogue() -> FakeCatalog:
    return FakeCatalog(
        [
            CatalogEntry("MUG-ADA", "Ada Lovelace mug", {"EUR": Decimal("12.30")}, "standard"),
            CatalogEntry(
                "BOOK-ENGINE",
                "The Analytical Engine",
                {"EUR": Decimal("24.99"), "JPY": Decimal("3800")},
                "reduced",
            ),
            CatalogEntry(
                "DIFF-ENGINE",
                "Difference Engine kit",
                {"EUR": Decimal("99.00")},
                "standard",
                active=False,
            ),
        ]
    )


def accounts() -> FakeAccounts:
    return FakeAccounts(
        [
            Account("acc_ada", "Ada Lovelace", email="ada@example.org"),
            Account("acc_babbage", "Charles Babbage", status="on_hold"),
            Account("acc_byron", "Lord Byron", status="closed"),
        ]
    )


def shop() -> FakeUnitOfWork:
    return FakeUnitOfWork(catalog=catalogue(), accounts=accounts())


def create_command(**changes: Any) -> CreateOrder:
    """Ada's order: two mugs and a book, standard delivery to Berlin, fully captured."""
    data: dict[str, Any] = {
        "actor": ACTOR,
        "order_id": "ord_ada_1",
        "account_id": "acc_ada",
        "currency": "EUR",
        "lines": [{"sku": "MUG-ADA", "quantity": 2}, {"sku": "BOOK-ENGINE", "quantity": 1}],
        "delivery": {"method": "standard", "address": ADDRESS},
        "payment": {"authorized": ADA_TOTAL, "captured": ADA_TOTAL, "reference": "psp_ch_4242"},
    }
    data.update(changes)
    return CreateOrder.model_validate(data)


def cancel_command(**changes: Any) -> CancelOrder:
    data: dict[str, Any] = {"actor": ACTOR, "order_id": "ord_ada_1", "reason": "customer_request"}
    data.update(changes)
    return CancelOrder.model_validate(data)


def created(uow: FakeUnitOfWork, **changes: Any) -> Change:
    return create_order(create_command(**changes), context("order.create"), uow)


def refused(uow: FakeUnitOfWork, **changes: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        created(uow, **changes)
    assert uow.orders.orders == {}
    assert uow.ledger.invoices == []
    return caught.value


# --- create ----------------------------------------------------------------------------


def test_creating_an_order_stores_it_with_its_invoice_and_reports_its_totals() -> None:
    uow = shop()

    change = created(uow)

    assert (change.subject, change.version) == ("ord_ada_1", 1)
    assert change.result == {
        "order_id": "ord_ada_1",
        "totals": {
            "currency": "EUR",
            "tax_included": False,
            "subtotal": "49.59",
            "discounts": "0.00",
            "shipping": "4.95",
            "tax": "7.36",
            "total": ADA_TOTAL,
        },
    }
    stored = uow.orders.orders["ord_ada_1"]
    assert [(x.line_id, x.sku, x.unit_price, x.ordered) for x in stored.lines] == [
        ("l1", "MUG-ADA", Decimal("12.30"), 2),
        ("l2", "BOOK-ENGINE", Decimal("24.99"), 1),
    ]
    assert stored.tax_rates["reduced"] == Decimal("0.07")
    assert [(i.invoice_id, str(i.total), cmd) for i, cmd in uow.ledger.invoices] == [
        ("inv_1", ADA_TOTAL, "cmd_ticket_4411")
    ]


def test_creating_an_order_publishes_order_created_and_audits_the_new_state() -> None:
    change = created(shop())

    [event] = change.events
    assert isinstance(event, OrderCreated)
    assert (event.order_id, event.account_id, event.invoice_id) == ("ord_ada_1", "acc_ada", "inv_1")
    assert str(event.totals.total) == ADA_TOTAL
    assert str(event.payment.captured) == ADA_TOTAL
    assert event.payment.balance_due == 0
    assert [(x.line_id, str(x.net), str(x.tax)) for x in event.lines] == [
        ("l1", "24.60", "4.67"),
        ("l2", "24.99", "1.75"),
    ]
    [audit] = change.audit
    assert (audit.entity_type, audit.entity_id, audit.action, audit.before) == (
        "order",
        "ord_ada_1",
        "order.created",
        None,
    )
    assert audit.after is not None
    assert audit.after.pop("delivery")["address"]["postal_code"] == "10117"
    assert audit.after == {
        "status": "open",
        "version": 1,
        "lines": {"l1": ["MUG-ADA", 2], "l2": ["BOOK-ENGINE", 1]},
        "total": ADA_TOTAL,
        "refunded": "0",
    }


def test_an_order_without_a_client_chosen_id_gets_a_generated_one() -> None:
    uow = shop()

    change = created(uow, order_id=None)

    assert change.subject == "ord_1"
    assert list(uow.orders.orders) == ["ord_1"]


def test_an_order_for_an_unknown_account_is_not_found() -> None:
    rejection = refused(shop(), account_id="acc_nobody")

    assert isinstance(rejection, NotFound)
    assert rejection.details == {"field": "data.account_id"}


@pytest.mark.parametrize("account_id", ["acc_babbage", "acc_byron"])
def test_an_account_on_hold_or_closed_cannot_order(account_id: str) -> None:
    rejection = refused(shop(), account_id=account_id)

    assert isinstance(rejection, NotAllowedInState)
    assert rejection.code == "not_allowed_in_state"


def test_an_unknown_sku_is_not_found_and_its_line_is_named() -> None:
    lines = [{"sku": "MUG-ADA", "quantity": 1}, {"sku": "MUG-TURING", "quantity": 1}]

    rejection = refused(shop(), lines=lines)

    assert isinstance(rejection, NotFound)
    assert rejection.details == {"field": "data.lines.1.sku"}


def test_a_sku_no_longer_for_sale_cannot_be_ordered() -> None:
    rejection = refused(shop(), lines=[{"sku": "DIFF-ENGINE", "quantity": 1}])

    assert type(rejection) is Invalid
    assert "not for sale" in rejection.message


def test_a_sku_without_a_price_in_the_order_currency_cannot_be_ordered() -> None:
    rejection = refused(
        shop(),
        currency="JPY",
        lines=[{"sku": "BOOK-ENGINE", "quantity": 1}, {"sku": "MUG-ADA", "quantity": 1}],
        payment={"authorized": "10000", "captured": "0"},
    )

    assert type(rejection) is Invalid
    assert rejection.message == "SKU MUG-ADA has no JPY price"
    assert rejection.details == {"field": "data.lines.1.sku"}


def test_line_ids_must_be_unique_within_an_order() -> None:
    lines = [
        {"sku": "MUG-ADA", "quantity": 1, "line_id": "gift"},
        {"sku": "BOOK-ENGINE", "quantity": 1, "line_id": "gift"},
    ]

    rejection = refused(shop(), lines=lines)

    assert type(rejection) is Invalid
    assert rejection.details == {"field": "data.lines"}


def test_an_unsupported_currency_is_invalid() -> None:
    rejection = refused(shop(), currency="XBT")

    assert rejection.details == {"field": "data.currency", "currency": "XBT"}


def test_a_payment_finer_than_the_currency_allows_is_invalid() -> None:
    rejection = refused(
        shop(),
        currency="JPY",
        lines=[{"sku": "BOOK-ENGINE", "quantity": 1}],
        payment={"authorized": "5000.5", "captured": "0"},
    )

    assert rejection.details == {"field": "data.payment.authorized"}


def test_an_order_whose_authorisation_does_not_cover_the_total_is_invalid() -> None:
    rejection = refused(shop(), payment={"authorized": "61.89", "captured": "0"})

    assert rejection.details == {"field": "data.payment.authorized", "total": ADA_TOTAL}


@pytest.mark.parametrize("method", ["carrier_pigeon", "pony_express"])
def test_an_unknown_or_retired_delivery_method_is_not_found(method: str) -> None:
    rejection = refused(shop(), delivery={"method": method, "address": ADDRESS})

    assert isinstance(rejection, NotFound)
    assert rejection.details == {"field": "data.delivery.method"}


def test_a_delivery_method_without_a_fee_in_the_order_currency_is_invalid() -> None:
    rejection = refused(
        shop(),
        currency="JPY",
        lines=[{"sku": "BOOK-ENGINE", "quantity": 1}],
        delivery={"method": "express", "address": ADDRESS},
        payment={"authorized": "10000", "captured": "0"},
    )

    assert type(rejection) is Invalid
    assert rejection.message == "delivery method 'express' has no fee in JPY"


def test_a_delivery_method_to_an_address_needs_an_address() -> None:
    rejection = refused(
        shop(), delivery={"method": "standard", "pickup_location_id": "pl_berlin_mitte"}
    )

    assert rejection.details == {"field": "data.delivery.address"}


def test_click_and_collect_needs_a_pickup_location() -> None:
    rejection = refused(shop(), delivery={"method": "pickup", "address": ADDRESS})

    assert rejection.details == {"field": "data.delivery.pickup_location_id"}


def test_an_unknown_pickup_location_is_not_found() -> None:
    rejection = refused(shop(), delivery={"method": "pickup", "pickup_location_id": "pl_narnia"})

    assert isinstance(rejection, NotFound)
    assert rejection.details == {"field": "data.delivery.pickup_location_id"}


def test_a_pickup_location_closed_for_refit_cannot_be_chosen() -> None:
    rejection = refused(
        shop(), delivery={"method": "pickup", "pickup_location_id": "pl_london_soho"}
    )

    assert type(rejection) is Invalid
    assert rejection.details == {"field": "data.delivery.pickup_location_id"}


def test_a_pickup_order_is_taxed_where_it_is_collected_without_shipping() -> None:
    # Collected in Paris: 20 % and 5.5 % VAT instead of Germany's 19 % and 7 %
    uow = shop()

    change = created(
        uow,
        delivery={"method": "pickup", "pickup_location_id": "pl_paris_bastille"},
        payment={"authorized": "100.00", "captured": "0"},
    )

    totals = change.result["totals"]
    assert (totals["shipping"], totals["tax"], totals["total"]) == ("0.00", "6.29", "55.88")
    stored = uow.orders.orders["ord_ada_1"]
    assert (stored.delivery.country, stored.delivery.pickup_location_id) == (
        "FR",
        "pl_paris_bastille",
    )


@pytest.mark.parametrize(
    ("country", "postal_code", "field"),
    [
        ("DE", "1011", "data.delivery.address.postal_code"),
        ("DE", None, "data.delivery.address.postal_code"),
        ("NL", "1012", "data.delivery.address.postal_code"),
        ("GB", "123 456", "data.delivery.address.postal_code"),
        ("JP", "1000001X", "data.delivery.address.postal_code"),
        ("XX", "10117", "data.delivery.address.country"),
    ],
)
def test_a_delivery_address_is_validated_for_its_country(
    country: str, postal_code: str | None, field: str
) -> None:
    address = {**ADDRESS, "country": country, "postal_code": postal_code}

    rejection = refused(shop(), delivery={"method": "standard", "address": address})

    assert type(rejection) is Invalid
    assert rejection.details == {"field": field}


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [("NL", "1012 ab"), ("GB", "SW1A 1AA"), ("FR", "75011"), ("JP", "100-0001")],
)
def test_a_well_formed_address_abroad_is_accepted(country: str, postal_code: str) -> None:
    address = {**ADDRESS, "country": country, "postal_code": postal_code}

    change = created(
        shop(),
        delivery={"method": "standard", "address": address},
        payment={"authorized": "100.00", "captured": "0"},
    )

    assert change.subject == "ord_ada_1"


def test_a_destination_without_configured_tax_rates_is_invalid() -> None:
    # Luxembourg is a valid country without a postal-code rule, but has no tax rates here
    address = {**ADDRESS, "country": "LU", "postal_code": "L-1648"}

    rejection = refused(shop(), delivery={"method": "standard", "address": address})

    assert type(rejection) is Invalid
    assert rejection.details["country"] == "LU"


def test_a_client_chosen_order_id_that_is_taken_already_exists() -> None:
    # Given Ada's order exists
    uow = shop()
    created(uow)

    # When the same order id is sent again with other lines
    with pytest.raises(AlreadyExists) as caught:
        created(
            uow,
            lines=[{"sku": "MUG-ADA", "quantity": 1}],
            payment={"authorized": "100.00", "captured": "0"},
        )

    # Then it is refused and the first order and its one invoice stay as they were
    assert caught.value.details == {"field": "data.order_id"}
    assert caught.value.code == "already_exists"
    assert [x.ordered for x in uow.orders.orders["ord_ada_1"].lines] == [2, 1]
    assert len(uow.ledger.invoices) == 1


# --- cancel ----------------------------------------------------------------------------


def test_cancelling_an_order_publishes_the_cancellation_the_credit_memo_and_the_refund() -> None:
    # Given Ada's fully captured order
    uow = shop()
    created(uow)

    # When an agent cancels it
    change = cancel_order(cancel_command(), context("order.cancel", command_id="cmd_cancel"), uow)

    # Then the events tell what happened, what is owed back and that nothing is to be picked
    cancelled, memo_issued, refund_requested, fulfillment = change.events
    assert isinstance(fulfillment, FulfillmentChanged)
    assert fulfillment.cancelled and [x.to_ship for x in fulfillment.lines] == [0, 0]
    assert isinstance(cancelled, OrderCancelled)
    assert isinstance(memo_issued, CreditMemoIssued)
    assert isinstance(refund_requested, RefundRequested)
    assert (cancelled.version, cancelled.reason) == (2, "customer_request")
    assert str(cancelled.old_totals.total) == ADA_TOTAL
    assert cancelled.new_totals.total == 0
    assert str(cancelled.settlement.refund_due) == ADA_TOTAL
    assert cancelled.settlement.authorization_released == 0
    assert [m.credit_memo_id for m in cancelled.settlement.credit_memos] == ["cm_1"]
    assert [r.refund_id for r in cancelled.settlement.refunds] == ["rf_1"]
    memo = memo_issued.credit_memo
    assert (memo.credit_memo_id, memo.invoice_id, str(memo.total)) == ("cm_1", "inv_1", ADA_TOTAL)
    assert [(x.description, str(x.net), str(x.tax)) for x in memo.lines] == [
        ("Ada Lovelace mug", "24.60", "4.67"),
        ("The Analytical Engine", "24.99", "1.75"),
        ("shipping", "4.95", "0.94"),
    ]
    refund = refund_requested.refund
    assert (refund.refund_id, str(refund.amount), refund.method, refund.status) == (
        "rf_1",
        ADA_TOTAL,
        "original_payment",
        "requested",
    )
    assert refund_requested.payment_reference == "psp_ch_4242"
    # And the ledger and the stored order record it under the cancel command
    assert [(m.credit_memo_id, cmd) for m, cmd in uow.ledger.credit_memos] == [
        ("cm_1", "cmd_cancel")
    ]
    assert [(r.refund_id, cmd) for r, cmd in uow.ledger.refunds] == [("rf_1", "cmd_cancel")]
    stored = uow.orders.orders["ord_ada_1"]
    assert (stored.status, stored.version, str(stored.payment.refunded)) == (
        "cancelled",
        2,
        ADA_TOTAL,
    )
    assert change.result["settlement"]["refund_due"] == ADA_TOTAL
    assert [m["credit_memo_id"] for m in change.result["settlement"]["credit_memos"]] == ["cm_1"]


def test_cancelling_audits_the_order_before_and_after() -> None:
    uow = shop()
    created(uow)

    change = cancel_order(cancel_command(), context("order.cancel"), uow)

    [audit] = change.audit
    assert (audit.entity_id, audit.action) == ("ord_ada_1", "order.cancelled")
    assert audit.before is not None and audit.after is not None
    assert audit.before.pop("delivery") == audit.after.pop("delivery")
    assert [c["action"] for c in audit.after.pop("changes")] == ["cancelled", "cancelled"]
    assert audit.before == {
        "status": "open",
        "version": 1,
        "lines": {"l1": ["MUG-ADA", 2], "l2": ["BOOK-ENGINE", 1]},
        "total": ADA_TOTAL,
        "refunded": "0",
    }
    assert audit.after == {
        "status": "cancelled",
        "version": 2,
        "lines": {"l1": ["MUG-ADA", 0], "l2": ["BOOK-ENGINE", 0]},
        "total": "0.00",
        "refunded": ADA_TOTAL,
    }


def test_cancelling_an_uncaptured_order_releases_the_authorisation_without_a_refund() -> None:
    uow = shop()
    created(uow, payment={"authorized": ADA_TOTAL, "captured": "0"})

    change = cancel_order(cancel_command(), context("order.cancel"), uow)

    assert [type(e) for e in change.events] == [
        OrderCancelled,
        CreditMemoIssued,
        AuthorizationReduced,
        FulfillmentChanged,
    ]
    cancelled = change.events[0]
    assert isinstance(cancelled, OrderCancelled)
    assert cancelled.settlement.refund_due == 0
    assert str(cancelled.settlement.authorization_released) == ADA_TOTAL
    assert cancelled.settlement.refunds == []
    assert uow.ledger.refunds == []


def test_cancelling_to_store_credit_credits_the_account_store_credit_ledger() -> None:
    uow = shop()
    created(uow)

    change = cancel_order(
        cancel_command(settle_to="store_credit"), context("order.cancel", command_id="cmd_sc"), uow
    )

    [(refund, _)] = uow.ledger.refunds
    assert (refund.method, refund.status) == ("store_credit", "settled")
    assert change.result["settlement"]["refund_due"] == ADA_TOTAL
    assert uow.ledger.store_credit == [("acc_ada", refund, "cmd_sc")]


def test_cancelling_to_store_credit_records_a_settled_store_credit_refund() -> None:
    uow = shop()
    created(uow)

    cancel_order(cancel_command(settle_to="store_credit"), context("order.cancel"), uow)

    [(refund, _)] = uow.ledger.refunds
    assert (refund.method, refund.status, str(refund.amount)) == (
        "store_credit",
        "settled",
        ADA_TOTAL,
    )
    [(memo, _)] = uow.ledger.credit_memos
    assert memo.settle_to == "store_credit"


def test_cancelling_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        cancel_order(cancel_command(order_id="ord_ghost"), context("order.cancel"), shop())

    assert caught.value.details == {"field": "data.order_id"}


def test_cancelling_against_a_stale_version_is_a_conflict_and_changes_nothing() -> None:
    uow = shop()
    created(uow)

    with pytest.raises(VersionConflict) as caught:
        cancel_order(cancel_command(expected_version=2), context("order.cancel"), uow)

    assert caught.value.details["current_version"] == 1
    assert uow.orders.orders["ord_ada_1"].status == "open"
    assert uow.ledger.credit_memos == []


def test_cancelling_at_the_version_the_agent_saw_goes_through() -> None:
    uow = shop()
    created(uow)

    change = cancel_order(cancel_command(expected_version=1), context("order.cancel"), uow)

    assert change.version == 2


def test_cancelling_twice_is_refused_as_already_cancelled() -> None:
    uow = shop()
    created(uow)
    cancel_order(cancel_command(), context("order.cancel"), uow)

    with pytest.raises(NotAllowedInState) as caught:
        cancel_order(cancel_command(), context("order.cancel"), uow)

    assert caught.value.details == {"status": "cancelled"}
    assert len(uow.ledger.refunds) == 1


def test_cancelling_an_order_with_a_shipped_book_is_refused() -> None:
    uow = shop()
    created(uow)
    uow.orders.orders["ord_ada_1"].lines[1].shipped = 1

    with pytest.raises(AlreadyShipped) as caught:
        cancel_order(cancel_command(), context("order.cancel"), uow)

    assert caught.value.details == {"line_id": "l2", "shipped": 1}


# --- read ------------------------------------------------------------------------------


def test_reading_an_unknown_order_is_not_found() -> None:
    query = GetOrder.model_validate({"actor": ACTOR, "order_id": "ord_ghost"})

    with pytest.raises(NotFound):
        get_order(query, shop())


def test_reading_an_order_shows_its_lines_totals_and_money_documents() -> None:
    uow = shop()
    created(uow)
    cancel_order(cancel_command(), context("order.cancel"), uow)
    query = GetOrder.model_validate({"actor": ACTOR, "order_id": "ord_ada_1"})

    view = get_order(query, uow)

    assert (view["order_id"], view["status"], view["version"]) == ("ord_ada_1", "cancelled", 2)
    assert view["totals"]["total"] == "0.00"
    assert view["payment"]["refunded"] == ADA_TOTAL
    assert [i["total"] for i in view["invoices"]] == [ADA_TOTAL]
    assert [m["total"] for m in view["credit_memos"]] == [ADA_TOTAL]
    assert [r["amount"] for r in view["refunds"]] == [ADA_TOTAL]
    assert [x["state"] for x in view["lines"]] == ["cancelled", "cancelled"]
