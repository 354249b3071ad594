"""Amendments, delivery changes, warehouse and payment messages through RabbitMQ and PostgreSQL:
each published with pika to its own exchange, each answered on the events exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from tests import messages as m
from tests.servers import Listener

from .conftest import Pipeline, query, run


def seed(pipeline: Pipeline, order_id: str = "ord_1001", **payment: str) -> None:
    for doc in (m.catalog(), m.account(), m.order(order_id, **payment)):
        pipeline.publish(doc)
        [outcome] = pipeline.outcomes_for(doc["id"]).values()
        assert outcome["type"] == "command.accepted", outcome


def send(pipeline: Pipeline, doc: dict[str, Any], **props: Any) -> dict[str, Any]:
    """Publish to the type's own exchange; the outcome."""
    return run(pipeline, doc, **props)[0]


def test_an_amendment_swaps_a_line_issues_a_credit_memo_and_requests_a_refund(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    swap = m.amend("ord_1001", [{"action": "replace", "line_id": "l2", "sku": "TEE-ORGANIC-M"}])

    outcome, events = run(pipeline, swap)

    assert outcome["type"] == "command.accepted"
    assert outcome["data"]["version"] == 2
    money = outcome["data"]["result"]["settlement"]
    # a 59.90 hoodie for a 25.00 tee: 34.90 + 19 % VAT = 41.53 back
    assert (money["direction"], money["difference"], money["refund_due"]) == (
        "decrease",
        "-41.53",
        "41.53",
    )
    assert set(events) >= {"order.amended", "credit_memo.issued", "refund.requested"}
    assert events["fulfillment.changed"]["data"]["lines"] == [
        {"line_id": "l2", "sku": "HOODIE-GREY-L", "name": "Grey hoodie, L", "to_ship": 0,
         "previously_to_ship": 1, "backordered": 0, "hold": False},
        {"line_id": "l3", "sku": "TEE-ORGANIC-M", "name": "Organic tee, M", "to_ship": 1,
         "previously_to_ship": 0, "backordered": 0, "hold": False},
    ]  # fmt: skip
    [memo] = query(pipeline, "SELECT total, lines FROM credit_memos WHERE order_id = 'ord_1001'")
    assert str(memo[0]) == "41.530000"
    assert memo[1]["lines"][0]["reason"] == "cheaper_replacement"
    assert query(pipeline, "SELECT amount, status FROM refunds")[0][1] == "requested"


def test_a_preview_answers_with_the_money_and_changes_nothing(pipeline: Pipeline) -> None:
    seed(pipeline)
    preview = m.amend("ord_1001", [{"action": "set_quantity", "line_id": "l1", "quantity": 5}],
                      preview=True)  # fmt: skip

    outcome = send(pipeline, preview)

    result = outcome["data"]["result"]
    assert result["preview"] is True
    assert result["new_totals"]["total"] == "225.92"  # 136.67 + 3 x 25.00 x 1.19
    assert [e["type"] for e in result["events"]][:2] == ["order.amended", "payment.balance_due"]
    assert outcome["data"]["event_ids"] == []
    assert query(pipeline, "SELECT version, total FROM orders") == [(1, query(
        pipeline, "SELECT total FROM orders")[0][0])]  # fmt: skip
    assert query(pipeline, "SELECT count(*) FROM invoices") == [(1,)]


def test_a_quantity_increase_leaves_a_balance_due_that_a_capture_clears(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    more = m.amend("ord_1001", [{"action": "set_quantity", "line_id": "l2", "quantity": 2}])

    outcome, events = run(pipeline, more)

    assert outcome["data"]["result"]["settlement"]["balance_due"] == "71.28"
    assert events["payment.balance_due"]["data"]["balance_due"] == "71.28"
    captured = m.payment("payment.captured", "ord_1001", amount="71.28", currency="EUR")
    outcome, events = run(pipeline, captured)
    assert outcome["data"]["result"] == {"captured": "207.95", "balance_due": "0.00"}
    # The capture is an order event too, through the outbox like every other.
    told = events["order.payment_captured"]["data"]
    assert (told["order_id"], told["version"], told["amount"], told["currency"]) == (
        "ord_1001", 3, "71.28", "EUR",
    )  # fmt: skip
    assert (told["payment"]["captured"], told["payment"]["balance_due"]) == ("207.95", "0.00")
    too_much = m.payment("payment.captured", "ord_1001", amount="0.01", currency="EUR")
    rejected = send(pipeline, too_much)
    assert (rejected["data"]["code"], rejected["data"]["details"]) == (
        "over_limit",
        {"limit": "0.00"},
    )


def test_a_warehouse_short_pick_cancels_the_units_and_refunds_them(pipeline: Pipeline) -> None:
    seed(pipeline)
    short = m.warehouse("warehouse.short_picked", "ord_1001", line_id="l1", sku="TEE-ORGANIC-M",
                        quantity=1, warehouse="berlin-1")  # fmt: skip

    outcome, events = run(pipeline, short)

    assert outcome["type"] == "command.accepted", outcome
    picked = events["line.short_picked"]["data"]
    assert (picked["quantity_short"], picked["quantity_left"], picked["why"]) == (
        1,
        1,
        "short_picked",
    )
    assert picked["settlement"]["refund_due"] == "29.75"  # 25.00 + 19 % VAT
    memo = events["credit_memo.issued"]["data"]["credit_memo"]
    assert [x["reason"] for x in memo["lines"]] == ["short_pick"]
    [audit] = query(
        pipeline, "SELECT actor_id, actor_role FROM audit_log WHERE action = 'line.short_picked'"
    )
    assert audit == ("wms/berlin-1", "system")


def test_warehouse_messages_for_unknown_lines_or_too_many_units_are_rejected_and_kept(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    unknown = m.warehouse("warehouse.short_picked", "ord_1001", line_id="l9", sku="TEE-ORGANIC-M",
                          quantity=1, warehouse="berlin-1")  # fmt: skip
    too_many = m.warehouse("warehouse.short_picked", "ord_1001", line_id="l1", sku="TEE-ORGANIC-M",
                           quantity=3, warehouse="berlin-1")  # fmt: skip

    first, second = send(pipeline, unknown), send(pipeline, too_many)

    assert (first["data"]["code"], first["data"]["message"]) == (
        "not_found",
        "order ord_1001 has no line l9",
    )
    assert second["data"]["code"] == "over_limit"
    assert "has 2 unshipped unit(s); 3 cannot be short picked" in second["data"]["message"]
    kept = query(pipeline, "SELECT message_id FROM inbox WHERE raw IS NOT NULL ORDER BY message_id")
    assert {row[0] for row in kept} >= {unknown["id"], too_many["id"]}


def test_after_a_shipment_the_shipped_line_cannot_be_removed_and_the_unit_is_named(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    shipped = m.warehouse("warehouse.shipped", "ord_1001", shipment_id="shp_1", carrier="DHL",
                          tracking_number="0034", lines=[{"line_id": "l2", "quantity": 1}],
                          warehouse="berlin-1")  # fmt: skip
    assert send(pipeline, shipped)["data"]["result"]["status"] == "partially_shipped"

    refused = send(pipeline, m.amend("ord_1001", [{"action": "remove", "line_id": "l2"}]))
    moved = send(
        pipeline, m.change_delivery("ord_1001", address={**m.BERLIN, "line1": "Elsewhere 1"})
    )

    assert refused["data"]["code"] == "not_allowed_in_state"
    assert refused["data"]["details"]["line_id"] == "l2"
    assert "1 of 1 unit(s) shipped" in refused["data"]["message"]
    assert moved["data"]["code"] == "not_allowed_in_state"
    assert "the address can change until the first shipment" in moved["data"]["message"]


def test_a_refund_the_payment_service_declines_is_owed_again(pipeline: Pipeline) -> None:
    seed(pipeline)
    cancel = m.cancel("ord_1001")
    refund_id = run(pipeline, cancel)[1]["refund.requested"]["data"]["refund"]["refund_id"]

    declined = m.payment("payment.refund_failed", "ord_1001", refund_id=refund_id,
                         failure_reason="card expired")  # fmt: skip
    outcome = send(pipeline, declined)
    again = send(pipeline, m.payment("payment.refund_failed", "ord_1001", refund_id=refund_id,
                                     failure_reason="card expired"))  # fmt: skip

    assert outcome["data"]["result"] == {
        "refund_id": refund_id,
        "status": "failed",
        "credit_owed": m.ADA_TOTAL,
    }
    assert query(pipeline, "SELECT status, failure_reason FROM refunds") == [
        ("failed", "card expired")
    ]
    assert again["data"]["code"] == "not_allowed_in_state"

    # And an agent pays it out again as store credit
    retried = m.envelope("refund.retry", {"actor": m.AGENT, "order_id": "ord_1001",
                                          "refund_id": refund_id, "reason": "refund_declined",
                                          "settle_to": "store_credit"})  # fmt: skip
    outcome, events = run(pipeline, retried)
    assert outcome["data"]["result"]["method"] == "store_credit"
    assert events["refund.settled"]["data"]["refund"]["retry_of"] == refund_id
    [(credited,)] = query(pipeline, "SELECT sum(amount) FROM store_credit_entries")
    assert credited == Decimal(m.ADA_TOTAL)


def test_a_warehouse_type_on_the_commands_exchange_is_refused(pipeline: Pipeline) -> None:
    seed(pipeline)
    forged = m.warehouse("warehouse.delivered", "ord_1001", shipment_id="shp_1")

    outcome = send(pipeline, forged, exchange=pipeline.settings.commands_exchange)

    assert outcome["data"]["code"] == "invalid"
    assert outcome["data"]["message"] == (
        f"warehouse.delivered is published to {pipeline.settings.warehouse_exchange}, "
        f"not {pipeline.settings.commands_exchange}"
    )


def test_an_agent_without_the_role_cannot_override_a_price_and_a_supervisor_can(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    cheap = [{"action": "add", "sku": "TEE-ORGANIC-M", "quantity": 1, "unit_price": "20.00"}]
    by_agent = m.amend("ord_1001", cheap)
    by_supervisor = m.amend("ord_1001", cheap)
    by_supervisor["data"]["actor"] = {"id": "sup-3", "role": "supervisor"}

    refused, accepted = send(pipeline, by_agent), send(pipeline, by_supervisor)

    assert refused["data"]["code"] == "forbidden"
    assert refused["data"]["errors"][0]["loc"] == "data.changes.0.unit_price"
    assert accepted["type"] == "command.accepted"
    [(after,)] = query(pipeline, "SELECT after FROM audit_log WHERE action = 'order.amended'")
    assert after["price_overrides"] == {"l3": "20.00"}
    assert after["changes"][0]["price_override"] is True


def test_an_agent_suppressed_email_is_marked_on_the_events(pipeline: Pipeline) -> None:
    seed(pipeline)
    quiet = m.amend("ord_1001", [{"action": "set_quantity", "line_id": "l1", "quantity": 1}],
                    notify_customer=False)  # fmt: skip
    listener = Listener(
        pipeline.settings.amqp_url, pipeline.settings.events_exchange, "order.amended"
    )

    send(pipeline, quiet)

    [(_props, body)] = listener.collect(lambda msgs: len(msgs) >= 1)
    assert orjson.loads(body)["notifycustomer"] is False
    listener.close()


def test_a_backorder_keeps_backorderable_units_with_their_date_and_cancels_the_others(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    book = m.amend("ord_1001", [{"action": "add", "sku": "BOOK-CARE-GUIDE", "quantity": 2}])
    assert send(pipeline, book)["type"] == "command.accepted"
    waits = m.warehouse("warehouse.backordered", "ord_1001", line_id="l3", quantity=2,
                        expected_date="2026-12-10", warehouse="berlin-1")  # fmt: skip
    gone = m.warehouse("warehouse.backordered", "ord_1001", line_id="l1", quantity=1,
                       expected_date="2026-12-10", warehouse="berlin-1")  # fmt: skip

    (kept, kept_events), (cut, cut_events) = run(pipeline, waits), run(pipeline, gone)

    assert kept["data"]["result"] == {"line_id": "l3", "backordered": 2}
    assert kept_events["line.backordered"]["data"]["expected_date"] == "2026-12-10"
    assert "credit_memo.issued" not in kept_events
    assert cut["type"] == "command.accepted"
    short = cut_events["line.short_picked"]["data"]
    assert (short["why"], short["quantity_short"], short["quantity_left"]) == (
        "not_backorderable",
        1,
        1,
    )
    assert cut_events["credit_memo.issued"]["data"]["credit_memo"]["lines"][0]["reason"] == (
        "short_pick"
    )
