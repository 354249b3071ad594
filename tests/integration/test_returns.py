"""Returns and exchanges of Ada's order through RabbitMQ and PostgreSQL: helpdesk commands on
the commands exchange, the parcel's receipt on the warehouse exchange, each answered on the
events exchange.

Ada's order ord_1001: two Organic tees, M at 25.00 (line l1) and a Grey hoodie, L at 59.90
(l2), standard delivery 4.95, 19 % German VAT: 136.67 EUR, all captured, all shipped.
"""

from __future__ import annotations

from typing import Any

import orjson

from notifier.kinds import Customer, notifications_for
from notifier.render import plain_text
from tests import messages as m
from tests.servers import Listener

from .conftest import Pipeline, query, run
from .test_amendments import seed, send

ORDER = "ord_1001"


def shipped(pipeline: Pipeline, order_id: str = ORDER) -> None:
    """Ada's order, and every unit of it on its way with DHL."""
    seed(pipeline, order_id)
    parcel = m.warehouse("warehouse.shipped", order_id, shipment_id="shp_1", carrier="DHL",
                         tracking_number="0034", warehouse="berlin-1",
                         lines=[{"line_id": "l1", "quantity": 2}, {"line_id": "l2", "quantity": 1}])  # fmt: skip
    assert send(pipeline, parcel)["data"]["result"]["status"] == "shipped"


def accepted(pipeline: Pipeline, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Publish; the events the accepted message caused, by type."""
    outcome, events = run(pipeline, doc)
    assert outcome["type"] == "command.accepted", outcome
    return events


def order_view(pipeline: Pipeline, order_id: str = ORDER) -> dict[str, Any]:
    """order.get, answered on reply_to."""
    replies = Listener(pipeline.settings.amqp_url, "")
    get = m.get(order_id)
    pipeline.publish(get, reply_to=replies.queue, correlation_id=get["id"])
    [(_props, body)] = replies.collect(lambda msgs: len(msgs) >= 1)
    replies.close()
    result: dict[str, Any] = orjson.loads(body)["data"]["result"]
    return result


def memo_lines(events: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    memo = events["credit_memo.issued"]["data"]["credit_memo"]
    return [(x["reason"], x["net"], x["tax"]) for x in memo["lines"]]


def count(pipeline: Pipeline, table: str) -> int:
    [(n,)] = query(pipeline, f"SELECT count(*) FROM {table} WHERE order_id = %s", ORDER)
    return int(n)


def test_a_return_is_authorised_for_shipped_units_and_the_order_shows_it(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)

    events = accepted(pipeline, m.create_return(ORDER, ("l1", 1, "changed_mind")))

    rma = events["return.authorized"]["data"]["rma"]
    assert (rma["return_id"], rma["status"], rma["method"], rma["exchange"]) == (
        "rma_1", "authorized", "drop_off", False)  # fmt: skip
    assert events["return.authorized"]["data"]["settlement"]["direction"] == "none"
    [shown] = order_view(pipeline)["returns"]
    assert (shown["return_id"], shown["status"]) == ("rma_1", "authorized")
    assert [(x["line_id"], x["quantity"], x["reason"]) for x in shown["lines"]] == [
        ("l1", 1, "changed_mind")
    ]


def test_units_not_shipped_yet_cannot_be_returned(pipeline: Pipeline) -> None:
    seed(pipeline)

    outcome = send(pipeline, m.create_return(ORDER, ("l1", 1, "changed_mind")))

    assert outcome["data"]["code"] == "not_allowed_in_state"
    assert outcome["data"]["message"].startswith(
        "return units refused: line l1 (TEE-ORGANIC-M) is open"
    )
    assert order_view(pipeline)["returns"] == []


def test_more_units_than_can_be_returned_are_over_limit_and_the_message_is_kept(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    too_many = m.create_return(ORDER, ("l1", 3, "changed_mind"))

    outcome = send(pipeline, too_many)

    assert (outcome["data"]["code"], outcome["data"]["details"]) == ("over_limit", {"limit": 2})
    assert outcome["data"]["errors"][0]["loc"] == "data.lines.0.quantity"
    assert (
        "2 unit(s) that can be returned (2 shipped, 0 returned or pending)"
        in (outcome["data"]["message"])
    )
    kept = query(pipeline, "SELECT message_id FROM inbox WHERE raw IS NOT NULL")
    assert too_many["id"] in {row[0] for row in kept}
    assert order_view(pipeline)["returns"] == []


def test_a_resellable_and_a_customer_damaged_unit_give_one_credit_memo_net_of_the_restocking_fee(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 2, "changed_mind")))
    parcel = m.return_received(ORDER, "rma_1", ("l1", "TEE-ORGANIC-M", "resellable", 1),
                               ("l1", "TEE-ORGANIC-M", "damaged_by_customer", 1))  # fmt: skip

    events = accepted(pipeline, parcel)

    line = events["return.received"]["data"]["rma"]["lines"][0]
    assert (line["refunded"], line["restocking_fee"]) == (1, 1)
    # Both tees credited (50.00 + 9.50), less 20 % of one tee's 25.00, taxed like it.
    assert memo_lines(events) == [("return", "50.00", "9.50"), ("restocking_fee", "-5.00", "-0.95")]
    assert events["refund.requested"]["data"]["refund"]["amount"] == "53.55"
    assert (count(pipeline, "credit_memos"), count(pipeline, "refunds")) == (1, 1)
    assert order_view(pipeline)["totals"]["total"] == "83.12"  # 136.67 - 53.55


def test_a_wrong_item_awaits_a_managers_decision_which_an_agent_may_not_make(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l2", 1, "changed_mind")))

    received = accepted(
        pipeline, m.return_received(ORDER, "rma_1", ("l2", "HOODIE-GREY-L", "wrong_item", 1))
    )
    by_agent = send(pipeline, m.decide_return(ORDER, "rma_1", ("l2", "wrong_item", "full"),
                                              actor=m.AGENT))  # fmt: skip
    decided = accepted(pipeline, m.decide_return(ORDER, "rma_1", ("l2", "wrong_item", "full")))

    rma = received["return.received"]["data"]["rma"]
    assert rma["status"] == "awaiting_decision"
    assert rma["lines"][0]["awaiting_decision"] == [{"condition": "wrong_item", "quantity": 1}]
    assert "credit_memo.issued" not in received
    assert by_agent["data"]["code"] == "forbidden"
    assert decided["return.decided"]["data"]["rma"]["status"] == "received"
    assert memo_lines(decided) == [("return", "59.90", "11.38")]
    assert decided["refund.requested"]["data"]["refund"]["amount"] == "71.28"


def test_units_beyond_those_authorised_are_kept_as_exceptions_and_never_refunded(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 1, "changed_mind")))

    events = accepted(
        pipeline, m.return_received(ORDER, "rma_1", ("l1", "TEE-ORGANIC-M", "resellable", 2))
    )

    rma = events["return.received"]["data"]["rma"]
    assert rma["exceptions"] == [
        {"line_id": "l1", "sku": "TEE-ORGANIC-M", "condition": "resellable", "quantity": 1,
         "why": "more units of line l1 than the 1 authorised"},
    ]  # fmt: skip
    assert rma["lines"][0]["refunded"] == 1
    assert memo_lines(events) == [("return", "25.00", "4.75")]
    assert events["refund.requested"]["data"]["refund"]["amount"] == "29.75"


def test_an_exchange_for_a_dearer_size_leaves_a_balance_due_on_a_supplementary_invoice(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    large = m.envelope("catalog.upsert", {"actor": m.STOREFRONT, "items": [
        {"sku": "TEE-ORGANIC-L", "name": "Organic tee, L", "prices": {"EUR": "27.00"},
         "tax_class": "standard"}]}, source="storefront/eu")  # fmt: skip
    accepted(pipeline, large)
    swap = m.create_return(ORDER, ("l1", 1, "wrong_size"),
                           replacements=[{"line_id": "l1", "sku": "TEE-ORGANIC-L"}])  # fmt: skip

    events = accepted(pipeline, swap)

    created = events["exchange.created"]["data"]
    assert [(x["line_id"], x["sku"], x["quantity"], x["exchange_for"], x["hold"])
            for x in created["replacements"]] == [("l3", "TEE-ORGANIC-L", 1, "rma_1", False)]  # fmt: skip
    assert created["rma"]["advance"] is True
    assert events["return.authorized"]["data"]["rma"]["exchange"] is True
    # 27.00 + 5.13 VAT for the L, less 25.00 + 4.75 for the M coming back.
    due = events["payment.balance_due"]["data"]
    assert due["balance_due"] == "2.38"
    [(net, tax)] = query(
        pipeline, "SELECT net, tax FROM invoices WHERE order_id = %s AND id = %s",
        ORDER, due["invoice_id"],
    )  # fmt: skip
    assert (str(net), str(tax)) == ("2.000000", "0.380000")
    assert count(pipeline, "invoices") == 2
    assert "credit_memo.issued" not in events
    assert count(pipeline, "credit_memos") == 0


def test_a_cheaper_exchange_refunds_the_difference_only_when_the_returned_unit_arrives(
    pipeline: Pipeline,
) -> None:
    """Issue 13: the price difference was refunded before the parcel came back."""
    shipped(pipeline)
    small = m.envelope("catalog.upsert", {"actor": m.STOREFRONT, "items": [
        {"sku": "TEE-ORGANIC-S", "name": "Organic tee, S", "prices": {"EUR": "20.00"},
         "tax_class": "standard"}]}, source="storefront/eu")  # fmt: skip
    accepted(pipeline, small)
    swap = m.create_return(ORDER, ("l1", 1, "wrong_size"),
                           replacements=[{"line_id": "l1", "sku": "TEE-ORGANIC-S"}])  # fmt: skip

    created = accepted(pipeline, swap)

    # 25.00 + 4.75 for the M coming back, less 20.00 + 3.80 for the S: 5.95 owed, not paid.
    money = created["exchange.created"]["data"]["settlement"]
    assert (money["difference"], money["refund_due"]) == ("-5.95", "0.00")
    assert "refund.requested" not in created
    assert created["exchange.created"]["data"]["payment"]["credit_owed"] == "5.95"
    assert count(pipeline, "refunds") == 0

    back = accepted(pipeline, m.return_received(ORDER, "rma_1",
                                                ("l1", "TEE-ORGANIC-M", "resellable", 1)))  # fmt: skip

    refund = back["refund.requested"]["data"]["refund"]
    assert refund["amount"] == "5.95"
    assert (
        refund["credit_memo_id"]
        == created["credit_memo.issued"]["data"]["credit_memo"]["credit_memo_id"]
    )
    assert order_view(pipeline)["payment"]["credit_owed"] == "0.00"
    assert count(pipeline, "refunds") == 1


def test_a_return_is_cancelled_while_nothing_has_arrived_and_its_units_can_be_returned_again(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 1, "changed_mind")))

    events = accepted(pipeline, m.cancel_return(ORDER, "rma_1"))

    assert events["return.cancelled"]["data"]["rma"]["status"] == "cancelled"
    assert [r["status"] for r in order_view(pipeline)["returns"]] == ["cancelled"]
    accepted(pipeline, m.create_return(ORDER, ("l1", 2, "changed_mind"), return_id="rma_2"))


def test_a_return_receipt_on_the_commands_exchange_is_refused(pipeline: Pipeline) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 1, "changed_mind")))
    forged = m.return_received(ORDER, "rma_1", ("l1", "TEE-ORGANIC-M", "resellable", 1))

    outcome = send(pipeline, forged, exchange=pipeline.settings.commands_exchange)

    assert outcome["data"]["code"] == "invalid"
    assert outcome["data"]["message"] == (
        f"warehouse.return_received is published to {pipeline.settings.warehouse_exchange}, "
        f"not {pipeline.settings.commands_exchange}"
    )
    assert [r["status"] for r in order_view(pipeline)["returns"]] == ["authorized"]


def deadlines(pipeline: Pipeline) -> int:
    [(n,)] = query(pipeline, "SELECT count(*) FROM deadlines WHERE subject = %s", ORDER)
    return int(n)


def test_a_second_parcel_brings_the_rest_and_refunds_only_what_it_brought(
    pipeline: Pipeline,
) -> None:
    """Issue 13: a customer sends an RMA's two tees in two parcels."""
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 2, "changed_mind")))

    first = accepted(pipeline, m.return_received(ORDER, "rma_1",
                                                 ("l1", "TEE-ORGANIC-M", "resellable", 1)))  # fmt: skip
    assert first["return.received"]["data"]["rma"]["status"] == "partially_received"
    assert first["refund.requested"]["data"]["refund"]["amount"] == "29.75"
    assert deadlines(pipeline) == 1  # the sweeper still expires what does not come
    second = accepted(pipeline, m.return_received(ORDER, "rma_1",
                                                  ("l1", "TEE-ORGANIC-M", "resellable", 1)))  # fmt: skip

    rma = second["return.received"]["data"]["rma"]
    assert (rma["status"], rma["lines"][0]["refunded"], rma["lines"][0]["missing"]) == (
        "received", 2, 0,
    )  # fmt: skip
    assert second["refund.requested"]["data"]["refund"]["amount"] == "29.75"
    assert (count(pipeline, "credit_memos"), count(pipeline, "refunds")) == (2, 2)
    assert deadlines(pipeline) == 0
    assert order_view(pipeline)["totals"]["total"] == "77.17"  # 136.67 - 2 x 29.75


def test_a_redelivered_return_receipt_has_no_second_effect(pipeline: Pipeline) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 2, "changed_mind")))
    parcel = m.return_received(ORDER, "rma_1", ("l1", "TEE-ORGANIC-M", "resellable", 2))
    first, _events = run(pipeline, parcel)

    pipeline.publish(parcel)  # the same message id: a redelivery
    again = pipeline.outcomes_for(parcel["id"])[parcel["id"]]

    assert first["type"] == "command.accepted"
    assert again["data"] == first["data"]
    assert (count(pipeline, "credit_memos"), count(pipeline, "refunds")) == (1, 1)
    view = order_view(pipeline)
    assert view["version"] == first["data"]["version"]
    assert view["returns"][0]["lines"][0]["refunded"] == 2


def test_a_return_refunded_as_store_credit_is_mailed_as_received_and_as_a_refund_issued(
    pipeline: Pipeline,
) -> None:
    shipped(pipeline)
    accepted(pipeline, m.create_return(ORDER, ("l1", 1, "changed_mind"), settle_to="store_credit"))
    parcel = m.return_received(ORDER, "rma_1", ("l1", "TEE-ORGANIC-M", "resellable", 1))

    events = accepted(pipeline, parcel)

    ada = Customer("acc_ada", "Ada Lovelace", "ada@example.com")
    [received] = notifications_for(events["return.received"], ada)
    [refunded] = notifications_for(events["refund.settled"], ada)
    assert (received.kind, refunded.kind) == ("return_received", "refund_issued")
    assert (received.data["items"][0]["name"], received.data["items"][0]["refunded"]) == (
        "Organic tee, M", 1)  # fmt: skip
    assert received.data["refund"] == {"amount": "29.75", "currency": "EUR"}
    assert refunded.data["method"] == "store_credit"
    assert "We have added 29.75 EUR to your store credit." in plain_text(
        received.kind, received.data
    )
