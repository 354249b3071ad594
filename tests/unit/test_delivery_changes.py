"""Changing where and how Ada's order travels: the address until the first shipment, the
method and pickup location until dispatch; tax and shipping priced again and settled."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.fulfillment import FulfillmentChanged
from contracts.orders import (
    BalanceDue,
    CancelOrder,
    ChangeDelivery,
    CreditMemoIssued,
    OrderDeliveryChanged,
    RefundRequested,
)
from services.context import Change
from services.errors import AlreadyCancelled, Invalid, NotAllowedInState, NotFound, Rejected
from services.orders.handlers import cancel_order, change_delivery

from .builders import ADA_ADDRESS, Helpdesk, ship
from .fakes import DELIVERY_METHODS

AMSTERDAM = {**ADA_ADDRESS, "line1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 LG",
             "country": "NL"}  # fmt: skip
KUWAIT_CITY = {**ADA_ADDRESS, "line1": "Gulf Road 1", "city": "Kuwait City", "postal_code": "13001",
               "country": "KW"}  # fmt: skip


def ada(**changes: Any) -> Helpdesk:
    desk = Helpdesk()
    desk.place_ada(**changes)
    return desk


def collecting_in_berlin() -> Helpdesk:
    """Ada's order to be collected at the Berlin Mitte store: no shipping, 56.01 paid."""
    return ada(
        delivery={"method": "pickup", "pickup_location_id": "pl_berlin_mitte"},
        payment={"authorized": "56.01", "captured": "56.01", "reference": "psp_ch_4242"},
    )


def redirect(desk: Helpdesk, **data: Any) -> Change:
    return desk.send(
        change_delivery, ChangeDelivery, order_id="ord_ada_1", reason="customer_request", **data
    )


def refused(desk: Helpdesk, **data: Any) -> Rejected:
    ledger = desk.uow.ledger
    stored, documents = desk.order(), (len(ledger.invoices), len(ledger.credit_memos))
    with pytest.raises(Rejected) as caught:
        redirect(desk, **data)
    assert desk.order() is stored
    assert (len(ledger.invoices), len(ledger.credit_memos)) == documents
    return caught.value


def memo_lines(event: CreditMemoIssued) -> list[tuple[str, str, str | None, str, str]]:
    return [
        (x.reason, x.description, x.line_id, str(x.net), str(x.tax))
        for x in event.credit_memo.lines
    ]


# --- tax and shipping are priced again ---------------------------------------------------------


def test_a_new_address_abroad_recomputes_the_tax_and_raises_a_balance_due() -> None:
    desk = ada()

    change = redirect(desk, address=AMSTERDAM)

    # Dutch VAT: mugs 5.17 (was 4.67), book 2.25 (was 1.75), shipping 1.04 (was 0.94)
    moved, balance, picking = change.events
    assert isinstance(moved, OrderDeliveryChanged)
    assert isinstance(balance, BalanceDue)
    assert isinstance(picking, FulfillmentChanged)
    assert (str(moved.old_totals.tax), str(moved.new_totals.tax)) == ("7.36", "8.46")
    assert (str(moved.old_totals.total), str(moved.new_totals.total)) == ("61.90", "63.00")
    assert (moved.old_delivery.country, moved.new_delivery.country) == ("DE", "NL")
    assert moved.new_delivery.address is not None
    assert moved.new_delivery.address["postal_code"] == "1012 LG"
    assert (str(balance.balance_due), balance.invoice_id) == ("1.10", "inv_2")
    invoice = desk.uow.ledger.invoices[1][0]
    assert (str(invoice.net), str(invoice.tax)) == ("0.00", "1.10")
    stored = desk.order()
    assert (stored.delivery.country, stored.tax_rates["standard"], stored.version) == (
        "NL",
        desk.uow.reference.rates["NL"]["standard"],
        2,
    )


def test_a_new_address_with_less_tax_credits_each_tax_change_and_refunds_it() -> None:
    desk = ada()

    change = redirect(desk, address=KUWAIT_CITY)

    moved, memo, refund, _ = change.events
    assert isinstance(moved, OrderDeliveryChanged)
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert memo_lines(memo) == [
        ("tax_change", "Ada Lovelace mug", "l1", "0.00", "4.67"),
        ("tax_change", "The Analytical Engine", "l2", "0.00", "1.75"),
        ("tax_change", "shipping", None, "0.00", "0.94"),
    ]
    assert memo.credit_memo.invoice_id == "inv_1"
    assert str(refund.refund.amount) == "7.36"
    assert str(moved.new_totals.total) == "54.54"


def test_a_dearer_delivery_method_invoices_the_fee_difference() -> None:
    desk = ada()

    change = redirect(desk, method="express")

    moved, balance, picking = change.events
    assert isinstance(moved, OrderDeliveryChanged)
    assert isinstance(balance, BalanceDue)
    assert isinstance(picking, FulfillmentChanged)
    assert (moved.old_delivery.method, moved.new_delivery.method) == ("standard", "express")
    assert moved.new_delivery.address == moved.old_delivery.address
    assert (str(moved.old_totals.shipping), str(moved.new_totals.shipping)) == ("4.95", "9.95")
    assert str(balance.balance_due) == "5.95"  # 5.00 + 0.95 VAT
    assert desk.order().delivery.fee == desk.uow.reference.methods["express"].fees["EUR"]


def test_a_cheaper_delivery_method_credits_the_shipping_change() -> None:
    desk = ada(
        delivery={"method": "express", "address": ADA_ADDRESS},
        payment={"authorized": "67.85", "captured": "67.85", "reference": "psp_ch_4242"},
    )

    change = redirect(desk, method="standard")

    memo, refund = change.events[1:3]
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert memo_lines(memo) == [("shipping_change", "shipping", None, "5.00", "0.95")]
    assert str(refund.refund.amount) == "5.95"


def test_click_and_collect_drops_the_shipping_and_credits_it() -> None:
    desk = ada()

    change = redirect(desk, method="pickup", pickup_location_id="pl_berlin_mitte")

    moved, memo, refund, picking = change.events
    assert isinstance(moved, OrderDeliveryChanged)
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert isinstance(picking, FulfillmentChanged)
    assert memo_lines(memo) == [("shipping_change", "shipping", None, "4.95", "0.94")]
    assert str(refund.refund.amount) == "5.89"
    assert moved.new_delivery.model_dump() == {
        "method": "pickup",
        "country": "DE",
        "address": None,
        "pickup_location_id": "pl_berlin_mitte",
    }
    assert picking.delivery_changed and picking.lines == []


def test_collecting_abroad_is_taxed_where_the_order_is_collected() -> None:
    desk = ada()

    change = redirect(desk, method="pickup", pickup_location_id="pl_paris_bastille")

    # French VAT, no shipping: the same totals as an order placed for Paris Bastille
    moved = change.events[0]
    assert isinstance(moved, OrderDeliveryChanged)
    totals = moved.new_totals
    assert (str(totals.shipping), str(totals.tax), str(totals.total)) == ("0.00", "6.29", "55.88")
    # One document: the mugs' VAT went up (4.67 -> 4.92), deducted in the same credit memo
    [memo] = moved.settlement.credit_memos
    assert [(x.reason, x.line_id, str(x.net), str(x.tax)) for x in memo.lines] == [
        ("tax_change", "l2", "0.00", "0.38"),
        ("shipping_change", None, "4.95", "0.94"),
        ("tax_change", "l1", "0.00", "-0.25"),
    ]
    assert moved.settlement.invoice_id is None
    assert [str(r.amount) for r in moved.settlement.refunds] == ["6.02"]


def test_going_home_from_a_pickup_charges_the_shipping_again() -> None:
    desk = collecting_in_berlin()

    change = redirect(desk, method="standard", address=ADA_ADDRESS)

    moved, balance, _ = change.events
    assert isinstance(moved, OrderDeliveryChanged)
    assert isinstance(balance, BalanceDue)
    assert str(balance.balance_due) == "5.89"
    assert (moved.new_delivery.method, moved.new_delivery.pickup_location_id) == (
        "standard",
        None,
    )


def test_a_delivery_change_is_audited_before_and_after() -> None:
    desk = ada()

    change = redirect(desk, method="express")

    [audit] = change.audit
    assert audit.action == "order.delivery_changed"
    assert audit.before is not None and audit.after is not None
    assert (audit.before["delivery"]["method"], audit.after["delivery"]["method"]) == (
        "standard",
        "express",
    )
    assert (audit.before["total"], audit.after["total"]) == ("61.90", "67.85")


def test_a_delivery_change_preview_applies_nothing() -> None:
    desk = ada()
    stored = desk.order()

    change = redirect(desk, address=AMSTERDAM, preview=True)

    assert (change.events, change.audit, change.version) == ([], [], 1)
    assert change.result["new_totals"]["total"] == "63.00"
    assert [e["type"] for e in change.result["events"]] == [
        "order.delivery_changed",
        "payment.balance_due",
        "fulfillment.changed",
    ]
    assert desk.order() is stored
    assert len(desk.uow.ledger.invoices) == 1


# --- rules, each named -----------------------------------------------------------------------


def test_address_changes_end_at_the_first_shipment() -> None:
    desk = ada()
    ship(desk, l1=1)

    rejection = refused(desk, address=AMSTERDAM)

    assert type(rejection) is NotAllowedInState
    assert rejection.message == (
        "change address refused: order ord_ada_1 is partially shipped (line l1 (MUG-ADA) has 1 "
        "unit(s) shipped); the address can change until the first shipment"
    )
    assert rejection.details == {
        "action": "change_address",
        "order_status": "partially_shipped",
        "rule": "the address can change until the first shipment",
        "line_id": "l1",
        "shipped": 1,
    }


def test_method_changes_end_at_dispatch() -> None:
    # Given one mug has shipped: the rest may still go express
    desk = ada()
    ship(desk, l1=1)
    redirect(desk, method="express")
    assert desk.order().delivery.method == "express"

    # When everything has shipped
    ship(desk, "shp_2", l1=1, l2=1)

    # Then the method can no longer change
    rejection = refused(desk, method="standard")
    assert rejection.code == "not_allowed_in_state"
    assert rejection.message.startswith("change method refused: order ord_ada_1 is shipped")
    assert rejection.details["rule"] == (
        "the delivery method can change until the order is dispatched"
    )


def test_pickup_changes_end_at_dispatch() -> None:
    # Given Ada collects in Berlin and one mug has gone to the store
    desk = collecting_in_berlin()
    ship(desk, l1=1)
    # Then another Berlin store is still possible, but not one abroad (the mug was taxed in DE)
    redirect(desk, pickup_location_id="pl_berlin_kreuzberg")
    assert desk.order().delivery.pickup_location_id == "pl_berlin_kreuzberg"
    abroad = refused(desk, pickup_location_id="pl_paris_bastille")
    assert (abroad.code, abroad.details["action"]) == ("not_allowed_in_state", "change_address")

    # When everything has gone
    ship(desk, "shp_2", l1=1, l2=1)

    # Then the pickup location can no longer change
    rejection = refused(desk, pickup_location_id="pl_berlin_mitte")
    assert rejection.code == "not_allowed_in_state"
    assert rejection.details["action"] == "change_pickup"
    assert rejection.details["order_status"] == "shipped"


# --- the new delivery is validated ----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message", "field"),
    [
        (
            {**ADA_ADDRESS, "country": "XX"},
            "data.address.country 'XX' is not an ISO 3166-1 alpha-2 country code",
            "data.address.country",
        ),
        (
            {**AMSTERDAM, "postal_code": "1012"},
            "data.address.postal_code '1012' is not a valid NL postal code",
            "data.address.postal_code",
        ),
        (
            {**ADA_ADDRESS, "postal_code": None},
            "data.address.postal_code is required for DE",
            "data.address.postal_code",
        ),
    ],
)
def test_a_new_address_is_validated_for_its_country(
    address: dict[str, Any], message: str, field: str
) -> None:
    rejection = refused(ada(), address=address)

    assert type(rejection) is Invalid
    assert rejection.message == message
    assert rejection.details == {"field": field}


@pytest.mark.parametrize("missing", ["name", "line1", "city", "country"])
def test_a_new_address_without_a_required_field_is_refused_at_the_edge(missing: str) -> None:
    address = {k: v for k, v in ADA_ADDRESS.items() if k != missing}

    with pytest.raises(ValidationError) as caught:
        ChangeDelivery.model_validate(
            {"actor": {"id": "agent-grace", "role": "agent"}, "order_id": "ord_ada_1",
             "reason": "customer_request", "address": address}
        )  # fmt: skip

    assert [e["loc"] for e in caught.value.errors()] == [("address", missing)]


def test_a_postal_code_in_lower_case_is_accepted() -> None:
    desk = ada()

    redirect(desk, address={**AMSTERDAM, "postal_code": "1012 lg"})

    assert desk.order().delivery.country == "NL"


def test_the_pickup_location_must_exist() -> None:
    rejection = refused(ada(), method="pickup", pickup_location_id="pl_narnia")

    assert isinstance(rejection, NotFound)
    assert rejection.message == "pickup location 'pl_narnia' does not exist"
    assert rejection.details == {"field": "data.pickup_location_id"}


def test_the_pickup_location_must_be_active() -> None:
    rejection = refused(ada(), method="pickup", pickup_location_id="pl_london_soho")

    assert type(rejection) is Invalid
    assert rejection.message == "pickup location 'pl_london_soho' is not active"
    assert rejection.details == {"field": "data.pickup_location_id"}


@pytest.mark.parametrize("method", ["teleport", "pony_express"])
def test_an_unknown_or_retired_delivery_method_is_not_found(method: str) -> None:
    rejection = refused(ada(), method=method)

    assert isinstance(rejection, NotFound)
    assert rejection.message == f"delivery method '{method}' does not exist"
    assert rejection.details == {"field": "data.method"}


def test_a_pickup_method_takes_a_location_not_an_address() -> None:
    rejection = refused(ada(), method="pickup", address=ADA_ADDRESS)

    assert type(rejection) is Invalid
    assert rejection.message == (
        "delivery method 'pickup' is a pickup method: give a pickup_location_id, not an address"
    )
    assert rejection.details == {"field": "data.address"}


def test_a_delivery_method_to_an_address_takes_no_pickup_location() -> None:
    rejection = refused(ada(), pickup_location_id="pl_berlin_mitte")

    assert type(rejection) is Invalid
    assert rejection.details == {"field": "data.pickup_location_id"}


def test_the_same_delivery_again_is_invalid() -> None:
    rejection = refused(ada(), method="standard", address=ADA_ADDRESS)

    assert type(rejection) is Invalid
    assert rejection.message == "the delivery is already exactly that: nothing to change"


def test_a_cancelled_order_cannot_be_redirected() -> None:
    desk = ada()
    desk.send(cancel_order, CancelOrder, order_id="ord_ada_1", reason="customer_request")

    rejection = refused(desk, method="express")

    assert isinstance(rejection, AlreadyCancelled)
    assert rejection.message == "order ord_ada_1 is already cancelled"


def test_the_address_can_change_by_a_method_no_longer_offered_at_the_fee_paid() -> None:
    # Given Ada's order by standard delivery, a method since withdrawn from new orders
    desk = ada()
    withdrawn = {**DELIVERY_METHODS}
    withdrawn["standard"] = replace(withdrawn["standard"], active=False)
    desk.uow.reference.methods = withdrawn

    # When the agent corrects the street
    change = redirect(desk, address={**ADA_ADDRESS, "line1": "Invalidenstraße 43"})

    # Then it goes there, by the same method at the same fee
    assert change.version == 2
    delivery = desk.order().delivery
    assert (delivery.method, str(delivery.fee)) == ("standard", "4.95")
    assert delivery.address is not None and delivery.address["line1"] == "Invalidenstraße 43"
