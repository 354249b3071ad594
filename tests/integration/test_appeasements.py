"""Appeasements through RabbitMQ and PostgreSQL: published with pika as a helpdesk would, the
outcome and events read on the events exchange, the rows read in the database.

Ada's order ord_1001: two organic tees at 25.00 and a grey hoodie at 59.90, standard
delivery 4.95, all at 19 % VAT: 136.67, all captured. 15 % of it is 20.50.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests import messages as m
from tests.servers import Listener

from .conftest import Pipeline, query, run

SUPERVISOR = {"id": "supervisor-sam", "role": "supervisor"}


def seed(pipeline: Pipeline) -> None:
    for doc in (m.catalog(), m.account(), m.order("ord_1001")):
        outcome = run(pipeline, doc)[0]
        assert outcome["type"] == "command.accepted", outcome


def offer(actor: dict[str, str] = m.AGENT, **data: Any) -> dict[str, Any]:
    data = {"reason": "late_delivery", "ticket": "ZD-4411", **data}
    return m.appeasement("appeasement.offer", actor, **data)


def audit_trail(pipeline: Pipeline, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    """`audit.get` on reply_to, as a helpdesk reads it."""
    replies = Listener(pipeline.settings.amqp_url, "")
    try:
        ask = m.envelope("audit.get", {"actor": m.AGENT, "entity_type": entity_type,
                                       "entity_id": entity_id})  # fmt: skip
        pipeline.publish(ask, reply_to=replies.queue, correlation_id=ask["id"])
        [(_props, body)] = replies.collect(lambda msgs: len(msgs) >= 1)
    finally:
        replies.close()
    entries: list[dict[str, Any]] = orjson.loads(body)["data"]["result"]["entries"]
    return entries


def test_a_discount_within_the_agents_limits_issues_a_goodwill_credit_memo_and_a_refund(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)

    outcome, events = run(
        pipeline, offer(kind="discount", order_id="ord_1001", line_id="l1", amount="10.00")
    )

    assert outcome["type"] == "command.accepted", outcome
    result = outcome["data"]["result"]
    # 10.00 off the tees and its VAT: 9.50 on 50.00 became 7.60 on 40.00
    assert (result["status"], result["value"], outcome["data"]["version"]) == (
        "granted",
        "11.90",
        2,
    )
    assert set(events) == {"order.discounted", "credit_memo.issued", "refund.requested",
                           "appeasement.granted"}  # fmt: skip
    memo = events["credit_memo.issued"]["data"]["credit_memo"]
    assert [(x["reason"], x["line_id"], x["net"], x["tax"]) for x in memo["lines"]] == [
        ("goodwill_discount", "l1", "10.00", "1.90")
    ]
    assert events["refund.requested"]["data"]["refund"]["amount"] == "11.90"
    assert events["order.discounted"]["data"]["new_totals"]["total"] == "124.77"
    [row] = query(pipeline, "SELECT id, status, value, credit_memo_id, offered_by, ticket "
                            "FROM appeasements")  # fmt: skip
    assert (row[1], str(row[2]), row[3], row[4], row[5]) == (
        "granted", "11.900000", memo["credit_memo_id"], "agent-17", "ZD-4411")  # fmt: skip
    for entity_type, entity_id in (("order", "ord_1001"), ("billing_account", "acc_ada")):
        actions = [e["action"] for e in audit_trail(pipeline, entity_type, entity_id)]
        assert "appeasement.granted" in actions, (entity_type, actions)


def test_a_discount_above_the_limit_waits_until_a_manager_approves_it_with_a_credit_memo(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    pending = offer(
        kind="discount", order_id="ord_1001", amount="30.00", appeasement_id="apz_zd_4411"
    )
    outcome, events = run(pipeline, pending)
    assert outcome["data"]["result"]["status"] == "pending", outcome
    # 35.70 with the VAT: over the agent's 20.00 and 15 % of the order (20.50)
    exceeded = events["appeasement.pending_approval"]["data"]["exceeded"]
    assert [(x["limit"], x["cap"], x["over_by"]) for x in exceeded] == [
        ("per_appeasement", "20.00", "15.70"),
        ("percent_of_order", "20.50", "15.20"),
    ]
    assert query(pipeline, "SELECT kind, ref, subject FROM deadlines") == [
        ("appeasement", "apz_zd_4411", "ord_1001")
    ]

    approve = m.appeasement("appeasement.approve", m.MANAGER, appeasement_id="apz_zd_4411",
                            reason="goodwill_approved")  # fmt: skip
    outcome, events = run(pipeline, approve)

    assert outcome["type"] == "command.accepted", outcome
    granted = events["appeasement.granted"]["data"]
    assert granted["approved_by"] == {"id": "manager-hopper", "role": "manager"}
    assert granted["appeasement"]["status"] == "granted"
    memo = events["credit_memo.issued"]["data"]["credit_memo"]
    assert {x["reason"] for x in memo["lines"]} == {"goodwill_discount"}
    assert memo["total"] == "35.70"
    assert events["refund.requested"]["data"]["refund"]["amount"] == "35.70"
    assert query(pipeline, "SELECT status, decided_by, credit_memo_id FROM appeasements") == [
        ("granted", "manager-hopper", memo["credit_memo_id"])
    ]
    assert query(pipeline, "SELECT count(*) FROM deadlines") == [(0,)]
    assert query(pipeline, "SELECT version FROM orders") == [(2,)]


def test_a_store_credit_appeasement_is_a_row_in_the_store_credit_ledger(pipeline: Pipeline) -> None:
    seed(pipeline)

    outcome, events = run(
        pipeline, offer(kind="store_credit", account_id="acc_ada", amount="15.00", currency="EUR")
    )

    appeasement_id = outcome["data"]["result"]["appeasement_id"]
    assert appeasement_id.startswith("apz_")
    assert set(events) == {"appeasement.granted"}
    ledger = "SELECT account_id, currency, amount, reason, reference FROM store_credit_entries"
    assert query(pipeline, ledger) == [("acc_ada", "EUR", 15, "appeasement", appeasement_id)]
    actions = [e["action"] for e in audit_trail(pipeline, "billing_account", "acc_ada")]
    assert actions[0] == "appeasement.granted"


def test_a_rejected_appeasement_moves_no_money(pipeline: Pipeline) -> None:
    seed(pipeline)
    pending = offer(kind="store_credit", account_id="acc_ada", amount="50.00", currency="EUR")
    appeasement_id = run(pipeline, pending)[0]["data"]["result"]["appeasement_id"]

    outcome, events = run(pipeline, m.appeasement("appeasement.reject", SUPERVISOR,
                                                  appeasement_id=appeasement_id,
                                                  reason="not_warranted"))  # fmt: skip

    assert outcome["type"] == "command.accepted", outcome
    rejected = events["appeasement.rejected"]["data"]["appeasement"]
    assert (rejected["status"], rejected["decided_by"]["id"]) == ("rejected", "supervisor-sam")
    assert query(pipeline, "SELECT count(*) FROM store_credit_entries") == [(0,)]
    assert query(pipeline, "SELECT status, decision_reason FROM appeasements") == [
        ("rejected", "not_warranted")
    ]


def test_approving_ones_own_appeasement_is_forbidden(pipeline: Pipeline) -> None:
    seed(pipeline)
    mine = offer(SUPERVISOR, kind="store_credit", account_id="acc_ada", amount="150.00",
                 currency="EUR")  # fmt: skip
    appeasement_id = run(pipeline, mine)[0]["data"]["result"]["appeasement_id"]

    outcome, events = run(pipeline, m.appeasement("appeasement.approve", SUPERVISOR,
                                                  appeasement_id=appeasement_id))  # fmt: skip

    assert outcome["type"] == "command.rejected"
    assert outcome["data"]["code"] == "forbidden"
    assert "supervisor-sam offered appeasement" in outcome["data"]["message"]
    assert events == {}
    assert query(pipeline, "SELECT status FROM appeasements") == [("pending",)]
