"""Raw pika publishes through RabbitMQ, Dramatiq, PostgreSQL and the relay, and back."""

from __future__ import annotations

import orjson
import pika

from tests import messages as m
from tests.integration.conftest import Pipeline
from tests.servers import Listener


def seed(pipeline: Pipeline) -> None:
    catalog, account = m.catalog(), m.account()
    pipeline.publish(catalog)
    pipeline.publish(account)
    outcomes = pipeline.outcomes_for(catalog["id"], account["id"])
    assert {o["type"] for o in outcomes.values()} == {"command.accepted"}


def test_each_command_gets_one_outcome_and_its_events_on_the_events_exchange(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    create = m.order("ord_1001")
    pipeline.publish(create)
    got = pipeline.events.collect(lambda msgs: len(msgs) >= 2)
    types = sorted(orjson.loads(body)["type"] for _p, body in got)
    assert types == ["command.accepted", "order.created"]
    created = next(orjson.loads(b) for _p, b in got if orjson.loads(b)["type"] == "order.created")
    assert created["causationid"] == create["id"]
    assert created["data"]["totals"]["total"] == m.ADA_TOTAL

    cancel = m.cancel("ord_1001", expected_version=1)
    pipeline.publish(cancel)
    got = pipeline.events.collect(lambda msgs: len(msgs) >= 5)
    types = sorted(orjson.loads(body)["type"] for _p, body in got)
    assert types == [
        "command.accepted",
        "credit_memo.issued",
        "fulfillment.changed",
        "order.cancelled",
        "refund.requested",
    ]
    cancelled = next(
        orjson.loads(b)["data"] for _p, b in got if orjson.loads(b)["type"] == "order.cancelled"
    )
    assert cancelled["settlement"]["refund_due"] == m.ADA_TOTAL


def test_the_outcome_also_goes_to_reply_to_with_the_correlation_id(pipeline: Pipeline) -> None:
    seed(pipeline)
    replies = Listener(pipeline.settings.amqp_url, "")
    create = m.order("ord_1001")
    pipeline.publish(create, reply_to=replies.queue, correlation_id="ticket-4411")
    [(props, body)] = replies.collect(lambda msgs: len(msgs) >= 1)
    assert props.correlation_id == "ticket-4411"
    assert orjson.loads(body)["data"]["command_id"] == create["id"]
    replies.close()


def test_a_query_answers_on_reply_to_only(pipeline: Pipeline) -> None:
    seed(pipeline)
    create = m.order("ord_1001")
    pipeline.publish(create)
    pipeline.outcomes_for(create["id"])
    replies = Listener(pipeline.settings.amqp_url, "")
    query = m.get("ord_1001")
    pipeline.publish(query, reply_to=replies.queue, correlation_id=query["id"])
    [(props, body)] = replies.collect(lambda msgs: len(msgs) >= 1)
    view = orjson.loads(body)["data"]["result"]
    assert (view["order_id"], view["version"], view["status"]) == ("ord_1001", 1, "open")
    assert [line["state"] for line in view["lines"]] == ["open", "open"]
    assert view["totals"]["total"] == m.ADA_TOTAL
    assert props.correlation_id == query["id"]
    assert (
        pipeline.events.drain() == []
    )  # no order view, personal data included, on the events exchange
    replies.close()


def dead_letters(pipeline: Pipeline, n: int) -> list[tuple[pika.BasicProperties, bytes]]:
    listener = Listener(pipeline.settings.amqp_url, "")
    listener.queue = pipeline.settings.dead_letter_queue
    got = listener.collect(lambda msgs: len(msgs) >= n)
    listener.close()
    return got


def test_bad_input_ends_once_rejected_or_dead_lettered_and_the_worker_keeps_going(
    pipeline: Pipeline,
) -> None:
    # Given garbage of every kind, then a valid command behind it
    too_big = m.body({**m.cancel("ord_x"), "padding": "x" * 300_000})
    pipeline.publish(b"\xff\xfe not json", "order.create")
    pipeline.publish(b"[1, 2, 3]", "order.create")
    pipeline.publish(
        orjson.dumps({"id": "c-1", "type": "order.cancel", "source": "helpdesk"}), "order.cancel"
    )
    pipeline.publish(too_big, "order.cancel")
    account = m.account()
    pipeline.publish(account)
    # Then what names no sender is in the dead-letter queue with a reason, the body intact
    got = dead_letters(pipeline, 2)
    reasons = sorted(p.headers["x-ordercare-reason"] for p, _b in got)
    assert reasons == ["not_an_envelope", "not_json"]
    assert b"\xff\xfe not json" in [b for _p, b in got]
    # And where an id, source and type were readable it was rejected instead, the over-size
    # one too (its head names it)
    big_id = orjson.loads(too_big)["id"]
    outcomes = pipeline.outcomes_for("c-1", big_id, account["id"])
    assert outcomes["c-1"]["data"]["code"] == "not_an_envelope"
    assert "specversion" in {e["loc"] for e in outcomes["c-1"]["data"]["errors"]}
    assert outcomes[big_id]["data"]["code"] == "too_large"
    assert outcomes[account["id"]]["type"] == "command.accepted"


def test_each_bad_command_gets_a_specific_rejection_code(pipeline: Pipeline) -> None:
    unknown = m.envelope("order.teleport", {"actor": m.AGENT})
    mismatch = m.cancel("ord_x")
    invalid = m.envelope(
        "order.create",
        {"actor": m.AGENT, "currency": "EUR", "lines": [{"sku": "A", "quantity": 0}]},
    )
    forbidden = m.envelope("catalog.upsert", {"actor": m.AGENT, "items": [
        {"sku": "A", "name": "A", "prices": {"EUR": "1.00"}, "tax_class": "standard"}]})  # fmt: skip
    missing = m.cancel("ord_nope")
    pipeline.publish(unknown)
    pipeline.publish(mismatch, "order.create")
    pipeline.publish(invalid)
    pipeline.publish(forbidden)
    pipeline.publish(missing)
    ids = [d["id"] for d in (unknown, mismatch, invalid, forbidden, missing)]
    outcomes = pipeline.outcomes_for(*ids)
    assert [outcomes[i]["data"]["code"] for i in ids] == ["unknown_type", "invalid", "invalid", "forbidden",
                                                         "not_found"]  # fmt: skip
    locs = {e["loc"] for e in outcomes[invalid["id"]]["data"]["errors"]}
    assert {"data.lines.0.quantity", "data.account_id", "data.delivery", "data.payment"} <= locs


def test_a_dramatiq_retry_arriving_through_the_default_exchange_is_processed(
    pipeline: Pipeline,
) -> None:
    # Given a message in Dramatiq's own format, as its Retries middleware re-enqueues one
    from actors.bootstrap import COMMAND_ACTOR

    account = m.account()
    retry = pipeline.broker.actors[COMMAND_ACTOR].message(
        m.body(account).decode(), encoding="utf-8", exchange=pipeline.settings.commands_exchange,
        routing_key="billing_account.create", reply_to=None, correlation_id=None, redelivered=False,
    )  # fmt: skip
    pipeline.publish(retry.encode(), pipeline.settings.commands_queue, exchange="")
    assert pipeline.outcomes_for(account["id"])[account["id"]]["type"] == "command.accepted"


def test_a_command_arriving_while_the_database_refuses_connections_is_retried_not_lost(
    pipeline: Pipeline,
) -> None:
    from tests.servers import admin

    database = pipeline.settings.database_url.rsplit("/", 1)[1]
    seed(pipeline)
    # Given the database stops accepting connections and drops the ones it has
    admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
    create = m.order("ord_1001")
    try:
        # When a command arrives, it cannot be applied
        pipeline.publish(create)
        assert pipeline.events.drain(1.5) == []
    finally:
        # And the database comes back
        admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    # Then the retried command is applied once
    assert (
        pipeline.outcomes_for(create["id"], timeout=40)[create["id"]]["type"] == "command.accepted"
    )


def test_a_reply_to_naming_one_of_ordercares_own_queues_is_refused(pipeline: Pipeline) -> None:
    # Given a sender who points its reply at OrderCare's delay queue
    sneaky = m.get("ord_1001")
    pipeline.publish(sneaky, reply_to=pipeline.settings.commands_queue + ".DQ")
    # Then it is rejected on the events exchange, and nothing lands in that queue
    outcome = pipeline.outcomes_for(sneaky["id"])[sneaky["id"]]
    assert outcome["data"]["code"] == "invalid"
    assert "is not a reply queue" in outcome["data"]["message"]
    delay = Listener(pipeline.settings.amqp_url, "")
    delay.queue = pipeline.settings.commands_queue + ".DQ"
    assert delay.drain(0.5) == []
    delay.close()


def test_garbage_published_straight_into_the_delay_queue_is_handled_not_crash_looped(
    pipeline: Pipeline,
) -> None:
    # The worker declares its delay queue as it starts consuming: make sure it exists
    pipeline.broker.declare_queue(pipeline.settings.commands_queue, ensure=True)
    pipeline.publish(b"not json", pipeline.settings.commands_queue + ".DQ", exchange="")
    account = m.account()
    pipeline.publish(account)
    got = dead_letters(pipeline, 1)
    assert [p.headers["x-ordercare-reason"] for p, _b in got] == ["not_json"]
    assert pipeline.outcomes_for(account["id"])[account["id"]]["type"] == "command.accepted"


def test_a_command_published_twice_is_applied_once_and_answered_twice_alike(
    pipeline: Pipeline,
) -> None:
    seed(pipeline)
    create = m.order("ord_1001")
    pipeline.publish(create)
    pipeline.publish(create)
    got = pipeline.events.collect(
        lambda msgs: sum(b'"command.accepted"' in b for _p, b in msgs) >= 2
    )
    got += pipeline.events.drain(0.5)
    outcomes = [b for _p, b in got if b'"command.accepted"' in b]
    assert len(outcomes) == 2 and outcomes[0] == outcomes[1]
    assert sum(b'"order.created"' in b for _p, b in got) == 1
