"""Which e-mail each event asks for, the facts it carries, and when it is not sent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from contracts.orders import ToldLine, ToldView
from notifier.kinds import KINDS, InvalidEvent, Planned, notifications_for
from tests.notifier_events import (
    ADA,
    DHL_URL,
    EVERY,
    HOODIE,
    TEE,
    cloudevent,
    line_backordered,
    line_short_picked,
    order_amended,
    order_cancelled,
    order_created,
    order_delivered,
    order_delivery_changed,
    order_shipped,
    payment,
    refund_settled,
    return_decided,
    return_received,
    return_refund_settled,
    settlement,
)


def planned(data: Any, **extensions: Any) -> Planned:
    [one] = notifications_for(cloudevent(data, **extensions), ADA)
    return one


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def test_the_kinds_table_names_one_email_per_milestone() -> None:
    assert KINDS == {
        "order.created": "order_confirmed",
        "order.amended": "order_changed",
        "order.delivery_changed": "order_changed",
        "order.cancelled": "order_cancelled",
        "line.short_picked": "item_short",
        "line.backordered": "item_backordered",
        "order.shipped": "shipped",
        "order.delivered": "delivered",
        "refund.settled": "refund_issued",
        "return.received": "return_received",
        "return.decided": "return_received",
    }


@pytest.mark.parametrize("event_type", sorted(EVERY))
def test_every_mailed_event_gives_one_email_of_its_kind_for_the_order(event_type: str) -> None:
    p = planned(EVERY[event_type])
    assert (p.kind, p.event_type, p.order_id, p.account_id) == (
        KINDS[event_type], event_type, "ord_ada_1", "acc_ada")  # fmt: skip
    assert (p.data["customer_name"], p.data["order_id"], p.data["kind"]) == (
        "Ada Lovelace", "ord_ada_1", p.kind)  # fmt: skip
    assert (p.locale, p.correlation_id, p.skip) == ("de-DE", "ticket-4411", None)


@pytest.mark.parametrize("event_type", sorted(EVERY))
def test_template_data_never_holds_a_float(event_type: str) -> None:
    def floats(value: Any) -> list[float]:
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return [value] if isinstance(value, float) else []

    assert floats(planned(EVERY[event_type]).data) == []


def test_an_order_confirmation_lists_the_items_and_totals_as_decimal_strings() -> None:
    data = planned(order_created()).data
    assert data["items"] == [
        {"name": "Organic tee, M", "sku": "TEE-ORGANIC-M", "quantity": 2,
         "unit_price": eur("25.00")},
        {"name": "Grey hoodie, L", "sku": "HOODIE-GREY-L", "quantity": 1,
         "unit_price": eur("59.90")},
    ]  # fmt: skip
    assert (data["still_to_charge"], data["owed"]) == (None, None)
    assert data["totals"] == {"tax_included": False, "subtotal": eur("109.90"), "discounts": eur("0.00"),
                              "shipping": eur("4.95"), "tax": eur("21.82"), "total": eur("136.67")}  # fmt: skip
    assert data["delivery"]["method"] == "standard"


def test_an_amendment_says_what_changed_with_old_and_new_totals_and_the_refund() -> None:
    data = planned(order_amended()).data
    assert data["change"] == "items"
    tee = {"name": "Organic tee, M", "sku": "TEE-ORGANIC-M", "unit_price": None}
    assert data["changes"] == [{"action": "quantity_changed", "name": "Organic tee, M",
                                "sku": "TEE-ORGANIC-M", "old_quantity": 2, "new_quantity": 1,
                                "old": {**tee, "quantity": 2}, "new": {**tee, "quantity": 1}}]  # fmt: skip
    assert (data["old_total"], data["new_total"]) == (eur("136.67"), eur("106.92"))
    assert data["refunded"] == {**eur("29.75"), "to": "original_payment"}
    assert (data["no_longer_charged"], data["owed"]) == (None, None)


def test_a_delivery_change_is_an_order_change_with_the_old_and_new_delivery() -> None:
    data = planned(order_delivery_changed()).data
    assert data["change"] == "delivery"
    assert (data["old_delivery"]["method"], data["new_delivery"]["method"]) == (
        "standard",
        "express",
    )
    assert (data["new_total"], data["owed"]) == (eur("142.62"), eur("5.95"))


def test_a_cancellation_lists_the_cancelled_units_and_the_refund() -> None:
    data = planned(order_cancelled()).data
    assert [(i["sku"], i["quantity"]) for i in data["items"]] == [
        ("TEE-ORGANIC-M", 2),
        ("HOODIE-GREY-L", 1),
    ]
    assert data["refunded"] == {**eur("136.67"), "to": "original_payment"}
    assert data["refunds"] == [{"amount": eur("136.67"), "method": "original_payment"}]


def test_a_short_pick_names_the_missing_item_and_the_money_back() -> None:
    data = planned(line_short_picked()).data
    assert data["item"] == {"name": "Grey hoodie, L", "sku": "HOODIE-GREY-L", "quantity": 1}
    assert (data["new_total"], data["refunded"]) == (
        eur("65.39"), {**eur("71.28"), "to": "original_payment"})  # fmt: skip


def test_a_backorder_carries_the_expected_date() -> None:
    data = planned(line_backordered()).data
    assert data["item"] == {"name": "Organic tee, M", "sku": "TEE-ORGANIC-M", "quantity": 2}
    assert data["expected_date"] == "2026-12-10"


def test_a_shipment_carries_the_tracking_number_and_link() -> None:
    data = planned(order_shipped()).data
    assert (data["carrier"], data["tracking_number"], data["tracking_url"]) == (
        "DHL", "00340434161094015902", DHL_URL)  # fmt: skip
    assert data["shipped_at"] == "2026-11-26T12:00:00Z"


def test_a_delivery_carries_the_delivered_items_and_when() -> None:
    data = planned(order_delivered()).data
    assert len(data["items"]) == 2
    assert data["delivered_at"] == "2026-11-28T10:30:00Z"


def test_a_settled_refund_carries_the_amount_with_its_currency() -> None:
    data = planned(refund_settled()).data
    assert (data["refund"], data["method"]) == (eur("29.75"), "original_payment")


def test_a_received_return_names_each_item_and_what_became_of_its_units() -> None:
    data = planned(return_received()).data
    assert (data["return_id"], data["stage"], data["status"], data["exchange"]) == (
        "rma_ada_1", "received", "awaiting_decision", False)  # fmt: skip
    assert data["items"] == [
        {"name": "Organic tee, M", "sku": "TEE-ORGANIC-M", "quantity": 2, "received": 2,
         "refunded": 1, "refunded_less_fee": 1, "refused": 0, "missing": 0,
         "awaiting_decision": 0},
        {"name": "Grey hoodie, L", "sku": "HOODIE-GREY-L", "quantity": 1, "received": 1,
         "refunded": 0, "refunded_less_fee": 0, "refused": 0, "missing": 0,
         "awaiting_decision": 1},
    ]  # fmt: skip


def test_a_received_return_carries_the_refund_and_the_restocking_fee_kept_back() -> None:
    data = planned(return_received()).data
    assert (data["refund"], data["refund_method"], data["owed"]) == (
        eur("53.55"), "original_payment", None)  # fmt: skip
    assert data["deductions"] == [{"reason": "restocking_fee", "amount": eur("5.95")}]


def test_a_return_that_leaves_a_balance_carries_the_balance_due_and_no_refund() -> None:
    owed = settlement("3.10", balance_due="3.10")
    update = {"settlement": owed, "payment": payment(balance_due="3.10")}
    data = planned(return_received().model_copy(update=update)).data
    assert (data["refund"], data["refund_method"], data["owed"]) == (
        None, None, eur("3.10"))  # fmt: skip


def test_a_return_without_a_name_on_its_lines_falls_back_to_the_sku() -> None:
    event = return_received()
    nameless = event.rma.lines[0].model_copy(update={"name": None})
    rma = event.rma.model_copy(update={"lines": [nameless]})
    data = planned(event.model_copy(update={"rma": rma})).data
    assert data["items"][0]["name"] == "TEE-ORGANIC-M"


def test_a_managers_decision_on_a_return_is_mailed_as_the_same_kind_at_the_decided_stage() -> None:
    data = planned(return_decided()).data
    assert (data["kind"], data["stage"], data["status"]) == (
        "return_received",
        "decided",
        "received",
    )
    assert data["items"][1]["refunded"] == 1
    assert data["refund"] == eur("71.28")


def test_a_refund_of_a_return_settled_as_store_credit_is_a_refund_issued_email() -> None:
    [p] = notifications_for(cloudevent(return_refund_settled()), ADA)
    assert (p.kind, p.data["refund"], p.data["method"]) == (
        "refund_issued", eur("53.55"), "store_credit")  # fmt: skip


def test_an_event_nobody_is_mailed_about_gives_no_email() -> None:
    doc = cloudevent(order_created()) | {"type": "credit_memo.issued"}
    assert notifications_for(doc, ADA) == []


def test_an_agents_notify_customer_false_suppresses_the_email() -> None:
    assert planned(order_amended(), notifycustomer=False).skip == "suppressed_by_agent"
    assert planned(order_amended(), notifycustomer="false").skip == "suppressed_by_agent"


def test_a_missing_notifycustomer_attribute_means_true() -> None:
    assert planned(order_amended()).skip is None
    assert planned(order_amended(), notifycustomer=True).skip is None


def test_a_customer_without_an_email_address_is_skipped_as_no_email() -> None:
    [p] = notifications_for(cloudevent(order_created()), replace(ADA, email=None))
    assert p.skip == "no_email"


def test_a_customer_who_opted_out_of_a_kind_is_skipped_for_that_kind_only() -> None:
    ada = replace(ADA, opted_out=frozenset({"shipped"}))
    assert notifications_for(cloudevent(order_shipped()), ada)[0].skip == "opted_out"
    assert notifications_for(cloudevent(order_created()), ada)[0].skip is None


def test_the_agents_suppression_is_the_reason_even_for_a_customer_who_opted_out() -> None:
    ada = replace(ADA, opted_out=frozenset({"order_changed"}))
    [p] = notifications_for(cloudevent(order_amended(), notifycustomer=False), ada)
    assert p.skip == "suppressed_by_agent"


def test_an_unknown_account_is_skipped_as_no_account() -> None:
    [p] = notifications_for(cloudevent(order_created()), None)
    assert (p.skip, p.locale) == ("no_account", "en")


def test_an_event_that_breaks_its_contract_is_refused_naming_fields_not_values() -> None:
    doc = cloudevent(order_created())
    doc["data"]["totals"]["total"] = 136.67
    doc["data"]["lines"][0]["name"] = None
    with pytest.raises(InvalidEvent) as raised:
        notifications_for(doc, ADA)
    assert "data.totals.total" in str(raised.value)
    assert "data.lines.0.name" in str(raised.value)
    assert "136.67" not in str(raised.value)


def test_a_planned_email_keeps_its_personal_data_out_of_its_repr() -> None:
    assert "Ada" not in repr(planned(order_created()))


def authorised_only(total: str, released: str = "0.00") -> dict[str, Any]:
    """An order whose payment is authorised and not captured: its whole total still to
    charge, nothing owed."""
    state = payment().model_copy(update={"captured": _d("0"), "to_capture": _d(total),
                                         "balance_due": _d(total)})  # fmt: skip
    return {"payment": state, "settlement": settlement("-1").model_copy(
        update={"authorization_released": _d(released), "balance_due": _d(total)})}  # fmt: skip


def _d(value: str) -> Decimal:
    return Decimal(value)


def test_an_authorised_only_order_is_still_to_be_charged_never_owed() -> None:
    data = planned(order_amended().model_copy(update=authorised_only("106.92", "29.75"))).data
    assert data["still_to_charge"] == eur("106.92")
    assert data["no_longer_charged"] == eur("29.75")
    assert (data["owed"], data["refunded"]) == (None, None)


def test_an_authorised_only_cancellation_says_no_longer_charged_and_nothing_owed() -> None:
    data = planned(order_cancelled().model_copy(update=authorised_only("0.00", "136.67"))).data
    assert data["no_longer_charged"] == eur("136.67")
    assert (data["owed"], data["still_to_charge"], data["refunded"]) == (None, None, None)


def test_a_swap_names_the_old_and_the_new_item_against_what_the_customer_was_told() -> None:
    told = ToldView(total=_d("136.67"), lines=[
        ToldLine(line_id="l1", sku=TEE.sku, name=TEE.name, quantity=2, unit_price=_d("25.00")),
        ToldLine(line_id="l2", sku=HOODIE.sku, name=HOODIE.name, quantity=1,
                 unit_price=_d("59.90"))])  # fmt: skip
    gone = TEE.model_copy(update={"quantity": 0, "cancelled": 2, "state": "cancelled"})
    black = TEE.model_copy(update={"line_id": "l3", "sku": "TEE-BLACK-M",
                                   "name": "Black tee, M", "replaces": "l1",
                                   "unit_price": _d("27.00")})  # fmt: skip
    event = order_amended().model_copy(update={"told": told, "lines": [gone, HOODIE, black]})
    data = planned(event).data
    assert data["changes"] == [{
        "action": "replaced", "name": "Black tee, M", "sku": "TEE-BLACK-M",
        "old_quantity": 2, "new_quantity": 2,
        "old": {"name": "Organic tee, M", "sku": "TEE-ORGANIC-M", "quantity": 2,
                "unit_price": eur("25.00")},
        "new": {"name": "Black tee, M", "sku": "TEE-BLACK-M", "quantity": 2,
                "unit_price": eur("27.00")}}]  # fmt: skip
    assert data["old_total"] == eur("136.67")


def test_against_the_told_lines_a_price_change_and_a_removal_are_named() -> None:
    told = ToldView(total=_d("136.67"), lines=[
        ToldLine(line_id="l1", sku=TEE.sku, name=TEE.name, quantity=2, unit_price=_d("25.00")),
        ToldLine(line_id="l2", sku=HOODIE.sku, name=HOODIE.name, quantity=1,
                 unit_price=_d("59.90"))])  # fmt: skip
    cheaper = TEE.model_copy(update={"unit_price": _d("20.00")})
    gone = HOODIE.model_copy(update={"quantity": 0, "cancelled": 1, "state": "cancelled"})
    event = order_amended().model_copy(update={"told": told, "lines": [cheaper, gone]})

    changes = planned(event).data["changes"]

    assert [(c["action"], c["sku"]) for c in changes] == [
        ("price_changed", "TEE-ORGANIC-M"), ("removed", "HOODIE-GREY-L")]  # fmt: skip
    assert (changes[0]["old"]["unit_price"], changes[0]["new"]["unit_price"]) == (
        eur("25.00"), eur("20.00"))  # fmt: skip
    assert changes[1]["new"] is None
