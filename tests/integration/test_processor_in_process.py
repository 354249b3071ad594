"""The message processor, run in process (in-process broker, this test's PostgreSQL database):
outcomes, duplicates, dead letters."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from actors.embedded import EmbeddedOrderCare
from actors.inbound import InboundMessage
from actors.logs import JsonFormatter
from actors.settings import Settings
from persistence.outbox import OutboundMessage
from tests import messages as m

EVENTS = "ordercare.events"
DEAD_LETTERS = "ordercare.dead-letters"
OUTCOMES = ("command.accepted", "command.rejected")
REPLY_TO = "amq.gen-helpdesk-reply"
SYSTEM = {"id": "storefront-import", "role": "system"}
AGENT = {"id": "agent-grace", "role": "agent"}
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}
#: One 'Ada Lovelace' mug at 12.30 + 2.34 VAT, shipping 4.95 + 0.94 VAT.
MUG_ORDER_TOTAL = "20.53"


def envelope(message_id: str, message_type: str, data: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": message_id,
            "source": "helpdesk/zendesk",
            "type": message_type,
            "data": data,
            **extra,
        }
    )


def create_order_data(order_id: str = "ord_ada_1", **changes: Any) -> dict[str, Any]:
    return {
        "actor": AGENT,
        "order_id": order_id,
        "account_id": "acc_ada",
        "currency": "EUR",
        "lines": [{"sku": "MUG-ADA", "quantity": 1}],
        "delivery": {"method": "standard", "address": ADDRESS},
        "payment": {"authorized": MUG_ORDER_TOTAL, "captured": MUG_ORDER_TOTAL},
        **changes,
    }


def body(message: OutboundMessage) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(message.body)
    return document


def data(message: OutboundMessage) -> dict[str, Any]:
    return body(message)["data"]  # type: ignore[no-any-return]


def on_events(published: list[OutboundMessage], *types: str) -> list[OutboundMessage]:
    return [m for m in published if m.exchange == EVENTS and (not types or m.routing_key in types)]


def outcome(published: list[OutboundMessage]) -> dict[str, Any]:
    """The one outcome on the events exchange, as its data."""
    [message] = on_events(published, *OUTCOMES)
    return {"type": message.routing_key, **data(message)}


def dead_letters(published: list[OutboundMessage]) -> list[OutboundMessage]:
    return [m for m in published if m.exchange == "" and m.routing_key == DEAD_LETTERS]


class Care:
    """OrderCare in process, with the mug in the catalogue and Ada's billing account."""

    def __init__(self, database_url: str, settings: Settings | None = None) -> None:
        self.app = EmbeddedOrderCare(settings or Settings(), database_url)
        self.count = 0

    def send(
        self,
        raw: bytes,
        routing_key: str,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> list[OutboundMessage]:
        return self.app.send(raw, routing_key, reply_to=reply_to, correlation_id=correlation_id)

    def command(
        self, message_type: str, payload: dict[str, Any], message_id: str | None = None, **kw: Any
    ) -> list[OutboundMessage]:
        self.count += 1
        raw = envelope(message_id or f"cmd-{self.count}", message_type, payload)
        return self.send(raw, message_type, **kw)

    def seed(self) -> Care:
        item = {
            "sku": "MUG-ADA",
            "name": "Ada Lovelace mug",
            "prices": {"EUR": "12.30"},
            "tax_class": "standard",
        }
        account = {"actor": AGENT, "account_id": "acc_ada", "name": "Ada Lovelace"}
        setup: list[tuple[str, dict[str, Any]]] = [
            ("catalog.upsert", {"actor": SYSTEM, "items": [item]}),
            ("billing_account.create", account),
        ]
        for message_type, payload in setup:
            assert outcome(self.command(message_type, payload))["type"] == "command.accepted"
        return self


@pytest.fixture
def make_care(database_url: str) -> Iterator[Callable[[Settings], Care]]:
    """OrderCare in process with these settings, on this test's database."""
    made: list[Care] = []

    def make(settings: Settings) -> Care:
        made.append(Care(database_url, settings))
        return made[-1]

    yield make
    for app in made:
        app.app.close()


@pytest.fixture
def care(make_care: Callable[[Settings], Care]) -> Care:
    return make_care(Settings()).seed()


# --- outcomes --------------------------------------------------------------------------


def test_a_command_gets_one_outcome_on_the_events_exchange_and_one_on_its_reply_queue(
    care: Care,
) -> None:
    published = care.command(
        "order.create", create_order_data(), reply_to=REPLY_TO, correlation_id="ticket-4411"
    )

    [on_exchange] = on_events(published, *OUTCOMES)
    [reply] = [m for m in published if m.routing_key == REPLY_TO]
    assert on_exchange.routing_key == "command.accepted"
    assert reply.exchange == ""
    assert reply.properties["correlation_id"] == "ticket-4411"
    assert reply.body == on_exchange.body
    assert reply.message_id == on_exchange.message_id
    assert len(published) == 3  # order.created, the outcome, its reply


def test_an_accepted_order_names_the_events_it_produced(care: Care) -> None:
    published = care.command("order.create", create_order_data(), message_id="cmd-ada-1")

    [created] = on_events(published, "order.created")
    accepted = outcome(published)
    assert accepted["type"] == "command.accepted"
    assert (accepted["command_id"], accepted["subject"], accepted["version"]) == (
        "cmd-ada-1",
        "ord_ada_1",
        1,
    )
    assert accepted["event_ids"] == [created.message_id]
    assert accepted["result"]["totals"]["total"] == MUG_ORDER_TOTAL
    assert body(created)["causationid"] == "cmd-ada-1"
    assert body(created)["subject"] == "ord_ada_1"


def test_a_cancel_publishes_the_cancellation_credit_memo_and_refund_request(care: Care) -> None:
    care.command("order.create", create_order_data())

    published = care.command(
        "order.cancel",
        {
            "actor": AGENT,
            "order_id": "ord_ada_1",
            "reason": "customer_request",
            "expected_version": 1,
        },
    )

    assert [m.routing_key for m in on_events(published)] == [
        "order.cancelled",
        "credit_memo.issued",
        "refund.requested",
        "fulfillment.changed",
        "command.accepted",
    ]
    accepted = outcome(published)
    assert accepted["version"] == 2
    assert accepted["result"]["settlement"]["refund_due"] == MUG_ORDER_TOTAL
    [refund] = on_events(published, "refund.requested")
    assert data(refund)["refund"]["amount"] == MUG_ORDER_TOTAL


def test_a_domain_rejection_becomes_an_outcome_and_changes_nothing(care: Care) -> None:
    care.command("order.create", create_order_data())

    published = care.command(
        "order.cancel",
        {
            "actor": AGENT,
            "order_id": "ord_ada_1",
            "reason": "customer_request",
            "expected_version": 7,
        },
    )

    rejected = outcome(published)
    assert (rejected["type"], rejected["code"]) == ("command.rejected", "version_conflict")
    assert rejected["details"] == {"current_version": 1, "expected_version": 7}
    assert len(published) == 1
    view = care.command("order.get", {"actor": AGENT, "order_id": "ord_ada_1"}, reply_to=REPLY_TO)
    assert data(view[0])["result"]["status"] == "open"


# --- duplicates ------------------------------------------------------------------------


def test_a_resent_command_gets_its_first_outcome_again_and_has_no_second_effect(
    care: Care,
) -> None:
    # Given an order was created by command cmd-ada-1
    first = care.command("order.create", create_order_data(), message_id="cmd-ada-1")

    # When the same envelope id arrives again, even carrying another order
    again = care.command(
        "order.create", create_order_data("ord_ada_2"), message_id="cmd-ada-1", reply_to=REPLY_TO
    )

    # Then the first outcome is sent again, byte for byte, and nothing else happens
    [first_outcome] = on_events(first, *OUTCOMES)
    [repeated] = on_events(again, *OUTCOMES)
    assert repeated.body == first_outcome.body
    assert repeated.message_id == first_outcome.message_id
    assert on_events(again, "order.created") == []
    [reply] = [m for m in again if m.routing_key == REPLY_TO]
    assert reply.body == first_outcome.body
    view = care.command("order.get", {"actor": AGENT, "order_id": "ord_ada_2"}, reply_to=REPLY_TO)
    assert data(view[0])["code"] == "not_found"


def test_a_resent_rejected_command_gets_the_same_rejection(care: Care) -> None:
    payload = {"actor": AGENT, "order_id": "ord_ghost", "reason": "customer_request"}

    first = care.command("order.cancel", payload, message_id="cmd-ghost")
    again = care.command("order.cancel", payload, message_id="cmd-ghost")

    assert outcome(first)["code"] == "not_found"
    assert [m.body for m in again] == [m.body for m in first]


# --- dead letters ----------------------------------------------------------------------


def reason_of(message: OutboundMessage) -> str:
    return str(message.properties["headers"]["x-ordercare-reason"])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"Ada's order, please cancel", "not_json"),
        (b"\xff\xfe\x00", "not_json"),
        (b"[1, 2, 3]", "not_an_envelope"),
        (b'"order.cancel"', "not_an_envelope"),
        (b'{"specversion": "1.0", "id": "cmd-1", "source": "helpdesk/zendesk"}', "not_an_envelope"),
        (
            b'{"specversion": "1.0", "type": "order.cancel", "source": "helpdesk"}',
            "not_an_envelope",
        ),
    ],
)
def test_a_message_that_is_not_an_envelope_is_dead_lettered_with_its_reason(
    care: Care, raw: bytes, reason: str
) -> None:
    published = care.send(raw, "order.cancel", reply_to=REPLY_TO)

    [dead] = dead_letters(published)
    assert reason_of(dead) == reason
    assert dead.body == raw
    assert dead.properties["headers"]["x-original-routing-key"] == "order.cancel"
    assert len(published) == 1  # no id, source and type to reject


def test_a_broken_envelope_that_names_its_id_is_rejected_and_not_also_dead_lettered(
    care: Care,
) -> None:
    raw = orjson.dumps(
        {"specversion": "0.3", "id": "cmd-old", "source": "helpdesk/legacy", "type": "order.cancel"}
    )

    published = care.send(raw, "order.cancel", reply_to=REPLY_TO, correlation_id="ticket-7")

    # Exactly one end: the sender can be answered, so it is a rejection, not a dead letter.
    assert dead_letters(published) == []
    rejected = outcome(published)
    assert (rejected["type"], rejected["command_id"], rejected["command_type"]) == (
        "command.rejected",
        "cmd-old",
        "order.cancel",
    )
    assert [e["loc"] for e in rejected["errors"]] == ["specversion"]
    [reply] = [m for m in published if m.routing_key == REPLY_TO]
    assert reply.properties["correlation_id"] == "ticket-7"
    # The inbox keeps it for inspection, and a re-send gets the same outcome.
    again = care.send(raw, "order.cancel")
    assert [m.body for m in on_events(again)] == [m.body for m in on_events(published)]


def test_a_broken_envelope_is_rejected_with_the_not_an_envelope_code(care: Care) -> None:
    raw = orjson.dumps(
        {"specversion": "0.3", "id": "cmd-old", "source": "helpdesk/legacy", "type": "order.cancel"}
    )

    published = care.send(raw, "order.cancel")

    assert outcome(published)["code"] == "not_an_envelope"


def oversized(message_id: str = "cmd-big") -> bytes:
    note = "The customer wrote a very long letter. " * 40
    payload = {"actor": AGENT, "order_id": "ord_ada_1", "reason": "customer_request", "note": note}
    raw = envelope(message_id, "order.cancel", payload)
    assert len(raw) > 1024
    return raw


def test_an_oversized_message_is_rejected_as_too_large_and_only_its_head_is_kept(
    make_care: Callable[[Settings], Care],
) -> None:
    small = make_care(Settings(max_message_bytes=1024))
    raw = oversized() + b" " * 10_000

    published = small.send(raw, "order.cancel")

    assert dead_letters(published) == []
    rejected = outcome(published)
    assert (rejected["code"], rejected["command_id"]) == ("too_large", "cmd-big")
    assert f"{len(raw)} bytes exceeds the 1024-byte limit" in rejected["message"]
    with small.app.engine.connect() as conn:
        [(kept,)] = conn.exec_driver_sql("SELECT raw FROM inbox WHERE message_id = 'cmd-big'")
    assert bytes(kept) == raw[:4096]
    assert all(len(m.body) < 4096 for m in published)


def test_an_oversized_message_without_readable_ids_is_only_dead_lettered(
    make_care: Callable[[Settings], Care],
) -> None:
    small = make_care(Settings(max_message_bytes=1024))

    published = small.send(b"x" * 20_000, "order.cancel")

    assert [reason_of(m) for m in published] == ["too_large"]
    [dead] = published
    assert dead.body == b"x" * 4096
    assert dead.properties["headers"]["x-original-size"] == 20_000


def test_a_message_at_the_size_limit_is_processed(
    make_care: Callable[[Settings], Care],
) -> None:
    small = make_care(Settings(max_message_bytes=1024))
    payload = {"actor": AGENT, "order_id": "ord_ghost", "reason": "customer_request"}
    raw = envelope("cmd-fits", "order.cancel", payload)
    raw = raw[:-1] + b" " * (1024 - len(raw)) + b"}"
    assert len(raw) == 1024

    published = small.send(raw, "order.cancel")

    assert dead_letters(published) == []
    assert outcome(published)["code"] == "not_found"


# --- rejections before any handler -----------------------------------------------------


def test_an_unknown_message_type_is_rejected_as_unknown_type(care: Care) -> None:
    published = care.command("order.teleport", {"actor": AGENT, "order_id": "ord_ada_1"})

    rejected = outcome(published)
    assert rejected["code"] == "unknown_type"
    assert "order.cancel" in rejected["message"]  # it lists the known types
    assert dead_letters(published) == []


def test_a_type_that_differs_from_the_routing_key_is_invalid(care: Care) -> None:
    raw = envelope("cmd-sneaky", "order.cancel", {"actor": AGENT, "order_id": "o", "reason": "x_y"})

    published = care.send(raw, "order.get")

    rejected = outcome(published)
    assert rejected["code"] == "invalid"
    assert "routing key 'order.get'" in rejected["message"]


def test_a_query_whose_type_differs_from_the_routing_key_is_invalid(care: Care) -> None:
    care.command("order.create", create_order_data())
    raw = envelope("q-sneaky", "order.get", {"actor": AGENT, "order_id": "ord_ada_1"})

    published = care.send(raw, "billing_account.create", reply_to=REPLY_TO)

    [reply] = [p for p in published if p.routing_key == REPLY_TO]
    assert reply.properties["type"] == "command.rejected"
    assert data(reply)["code"] == "invalid"
    assert "order_id" not in str(data(reply).get("result", ""))


def test_a_schema_error_is_invalid_with_the_path_of_each_field_at_fault(care: Care) -> None:
    payload = create_order_data(
        lines=[{"sku": "MUG-ADA", "quantity": 0}], payment={"authorized": 20.53, "captured": "0"}
    )

    published = care.command("order.create", payload)

    rejected = outcome(published)
    assert rejected["code"] == "invalid"
    assert {e["loc"] for e in rejected["errors"]} == {
        "data.lines.0.quantity",
        "data.payment.authorized",
    }
    assert "decimal strings" in str(rejected["errors"])


def test_a_role_that_may_not_send_a_type_is_forbidden(care: Care) -> None:
    item = {"sku": "MUG-ADA", "name": "Mug", "prices": {"EUR": "0.01"}, "tax_class": "standard"}

    published = care.command("catalog.upsert", {"actor": AGENT, "items": [item]})

    rejected = outcome(published)
    assert (rejected["code"], rejected["details"]) == ("forbidden", {"role": "agent"})


def test_a_subject_that_differs_from_the_order_id_is_invalid(care: Care) -> None:
    raw = envelope(
        "cmd-subject",
        "order.cancel",
        {"actor": AGENT, "order_id": "ord_ada_1", "reason": "customer_request"},
        subject="ord_other",
    )

    published = care.send(raw, "order.cancel")

    assert outcome(published)["code"] == "invalid"


# --- queries ---------------------------------------------------------------------------


def test_a_query_without_a_reply_queue_is_rejected(care: Care) -> None:
    published = care.command("order.get", {"actor": AGENT, "order_id": "ord_ada_1"})

    rejected = outcome(published)
    assert rejected["code"] == "invalid"
    assert "reply_to" in rejected["message"]


def test_a_query_is_answered_on_its_reply_queue_only_with_the_order_view(care: Care) -> None:
    care.command("order.create", create_order_data())

    published = care.command(
        "order.get",
        {"actor": AGENT, "order_id": "ord_ada_1"},
        reply_to=REPLY_TO,
        correlation_id="ticket-4411",
    )

    [reply] = published
    assert (reply.exchange, reply.routing_key) == ("", REPLY_TO)
    assert reply.properties["correlation_id"] == "ticket-4411"
    answer = data(reply)
    assert reply.routing_key == REPLY_TO and reply.properties["type"] == "command.accepted"
    view = answer["result"]
    assert (view["order_id"], view["status"], view["version"]) == ("ord_ada_1", "open", 1)
    assert view["totals"]["total"] == MUG_ORDER_TOTAL
    assert [line["sku"] for line in view["lines"]] == ["MUG-ADA"]


def test_a_query_for_an_unknown_order_is_answered_with_not_found(care: Care) -> None:
    published = care.command(
        "order.get", {"actor": AGENT, "order_id": "ord_ghost"}, reply_to=REPLY_TO
    )

    [reply] = published
    assert reply.routing_key == REPLY_TO
    assert data(reply)["code"] == "not_found"


def test_a_type_in_the_wrong_case_is_an_unknown_type_not_a_broken_envelope(care: Care) -> None:
    published = care.send(envelope("cmd-shout", "ORDER.CANCEL", {"actor": AGENT}), "ORDER.CANCEL")
    assert outcome(published)["code"] == "unknown_type"


def test_an_envelope_without_data_is_invalid_at_data(care: Care) -> None:
    raw = orjson.loads(envelope("cmd-empty", "order.cancel", {}))
    raw["data"] = None
    published = care.send(orjson.dumps(raw), "order.cancel")
    rejected = outcome(published)
    assert rejected["code"] == "invalid"
    assert [e["loc"] for e in rejected["errors"]] == ["data"]


def test_a_nul_character_in_any_text_is_refused_with_its_path(care: Care) -> None:
    raw = orjson.loads(envelope("cmd-nul", "order.cancel", {"actor": AGENT, "order_id": "o1",
                                                           "reason": "x", "note": "bad\u0000note"}))  # fmt: skip
    published = care.send(orjson.dumps(raw), "order.cancel")
    rejected = outcome(published)
    assert rejected["code"] == "invalid"
    assert [e["loc"] for e in rejected["errors"]] == ["data.note"]


def test_an_unknown_type_on_the_warehouse_exchange_is_an_unknown_type(care: Care) -> None:
    raw = envelope("wh-1", "warehouse.returned", {"order_id": "ord_ada_1"})

    published = care.app.send(
        raw, "warehouse.returned", exchange=care.app.settings.warehouse_exchange
    )

    assert outcome(published)["code"] == "unknown_type"


# --- hostile input: cheap limits, masking, the last resort -----------------------------


def cancel_doc(message_id: str, **extra: Any) -> dict[str, Any]:
    data = {"actor": AGENT, "order_id": "ord_ghost", "reason": "customer_request"}
    return {"specversion": "1.0", "id": message_id, "source": "helpdesk/zendesk",
            "type": "order.cancel", "data": data, **extra}  # fmt: skip


def test_too_many_objects_and_arrays_are_refused_before_parsing(care: Care) -> None:
    raw = orjson.dumps(cancel_doc("cmd-wide", wide=[[] for _ in range(10_001)]))

    published = care.send(raw, "order.cancel")

    rejected = outcome(published)
    assert (rejected["command_id"], rejected["code"]) == ("cmd-wide", "invalid")
    assert "exceed the limit of 10000 objects and arrays" in rejected["message"]
    with care.app.engine.connect() as conn:
        [(kept,)] = conn.exec_driver_sql("SELECT raw FROM inbox WHERE message_id = 'cmd-wide'")
    assert len(kept) == 4096


def test_nesting_deeper_than_32_is_invalid(care: Care) -> None:
    nested: Any = 1
    for _ in range(31):
        nested = [nested]
    fits, deep = cancel_doc("cmd-fits", x=nested), cancel_doc("cmd-deep", x=[nested])

    assert outcome(care.send(orjson.dumps(fits), "order.cancel"))["code"] == "not_found"
    rejected = outcome(care.send(orjson.dumps(deep), "order.cancel"))
    assert "nest deeper than 32 levels" in rejected["message"]


def test_a_nul_in_a_key_is_named_and_the_message_rejected(care: Care) -> None:
    raw = orjson.dumps(cancel_doc("cmd-nul", ext={"a": [{"k\x00": 1}]}))

    rejected = outcome(care.send(raw, "order.cancel"))

    assert rejected["errors"] == [{"loc": "ext.a.0 (a key)", "message":
                                   "NUL characters are not allowed", "type": "string_nul"}]  # fmt: skip


def test_a_rejection_lists_at_most_fifty_field_errors(care: Care) -> None:
    lines = [{"sku": "MUG-ADA", "quantity": 0} for _ in range(200)]
    raw = envelope("cmd-many", "order.create", create_order_data("ord_many", lines=lines))

    rejected = outcome(care.send(raw, "order.create"))

    assert len(rejected["errors"]) == 51
    assert rejected["errors"][-1]["type"] == "too_many_errors"
    assert rejected["errors"][-1]["message"] == "150 more errors not listed"


def test_words_in_a_rejection_never_quote_a_card_number(care: Care) -> None:
    raw = envelope("cmd-card-type", "4111 1111 1111 1111", {"actor": AGENT})

    rejected = outcome(care.send(raw, "4111 1111 1111 1111"))

    assert rejected["code"] == "unknown_type"
    assert "4111" not in rejected["message"] and "**** **** **** ****" in rejected["message"]


def test_a_log_line_never_shows_a_card_number() -> None:
    try:
        raise KeyError("4111 1111 1111 1111")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "card %s", ("4111111111111111",),
                                   exc_info=sys.exc_info())  # fmt: skip
    card_like_uuid = "7ee5e857-3489-4498-9143-40ff813fb5cd"  # an identifier: kept
    record.__dict__["command_id"] = card_like_uuid
    line = JsonFormatter().format(record)

    assert "4111" not in line and "**** **** **** ****" in line
    assert orjson.loads(line)["command_id"] == card_like_uuid


def test_a_command_that_fails_every_retry_is_dead_lettered_answered_and_taken_afresh_later(
    care: Care,
) -> None:
    raw = orjson.dumps(cancel_doc("cmd-bug", correlationid="ticket-9"))
    processor, start = care.app.processor, len(care.app.broker.published)

    processor.give_up(InboundMessage(raw, "ordercare.commands", "order.cancel", message_id="m-0"),
                      RuntimeError("boom"))  # fmt: skip
    care.app.relay.drain()

    published = care.app.broker.published[start:]
    [dead] = dead_letters(published)
    assert (reason_of(dead), dead.body) == ("handler_error", raw)
    rejected = outcome(published)
    assert (rejected["command_id"], rejected["code"]) == ("cmd-bug", "internal_error")
    # Once the bug is fixed, the same command published again is handled, not a duplicate.
    assert outcome(care.send(raw, "order.cancel"))["code"] == "not_found"


def test_when_rejecting_fails_too_the_message_is_dead_lettered_alone(
    care: Care, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = orjson.dumps(cancel_doc("cmd-doomed"))
    processor, start = care.app.processor, len(care.app.broker.published)

    def broken(*_args: Any, **_kwargs: Any) -> str:
        raise ValueError("cannot build the rejection")

    monkeypatch.setattr(processor, "_rejected", broken)

    processor.give_up(InboundMessage(raw, "ordercare.commands", "order.cancel", message_id="m-1"),
                      RuntimeError("boom"))  # fmt: skip
    care.app.relay.drain()

    [dead] = care.app.broker.published[start:]
    assert reason_of(dead) == "handler_error"
    assert dead.properties["headers"]["x-original-message-id"] == "m-1"
    assert dead.body == raw


# --- found by review: every path keeps a masked copy, whatever the JSON -------------------

CARD = "4111 1111 1111 1111"


def stored_raw(care: Care, message_id: str) -> bytes:
    with care.app.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT raw FROM inbox WHERE message_id = %s", (message_id,)
        ).all()
    [(raw,)] = rows
    return bytes(raw)


@pytest.mark.parametrize(
    "tail",
    [
        # the first of two equal keys is dropped by the parser, not from the raw bytes
        b', "data": {"actor": {"id": "a", "role": "agent"}, "note": "'
        + CARD.encode()
        + b'", "note": "fine", "order_id": "o", "reason": "x_y"}',
        # a float whose last digits parsing rounds away
        b', "ext": 4111111111111111.9, "data": {}',
        # a card beside arrays nested deeper than the JSON writer goes (254)
        b', "x": "' + CARD.encode() + b'", "y": ' + b"[" * 300 + b"]" * 300,
        # a card in an attribute that is not an identifier
        b', "time": "' + CARD.encode() + b'"',
    ],
    ids=["duplicate-key", "rounded-float", "nested-300", "time"],
)
def test_what_is_kept_of_a_refused_message_never_holds_the_card_its_bytes_held(
    care: Care, tail: bytes
) -> None:
    raw = (
        b'{"specversion": "2", "id": "cmd-kept", "source": "s", "type": "order.cancel"'
        + tail
        + b"}"
    )

    published = care.send(raw, "order.cancel")

    assert outcome(published)["code"] in {"invalid", "not_an_envelope"}
    assert "4111111111111111" not in m.digits(stored_raw(care, "cmd-kept"))


def test_an_unnamed_message_with_a_card_and_deep_nesting_is_dead_lettered_masked(
    care: Care,
) -> None:
    raw = b'["' + CARD.encode() + b'", ' + b"[" * 300 + b"]" * 300 + b"]"

    [dead] = dead_letters(care.send(raw, "order.cancel"))

    assert reason_of(dead) == "not_an_envelope"
    assert "4111111111111111" not in m.digits(dead.body)


def test_a_card_cut_in_two_by_the_size_limit_leaves_no_digits_to_complete_it(
    make_care: Callable[[Settings], Care],
) -> None:
    small = make_care(Settings(max_message_bytes=1024))
    head = b'{"specversion": "1.0", "id": "cmd-cut", "source": "s", "type": "order.cancel", "x": "'
    raw = head + b"a" * (4096 - len(head) - 15) + CARD.replace(" ", "").encode() + b"0" * 2000

    published = small.send(raw, "order.cancel")

    assert outcome(published)["code"] == "too_large"
    kept = stored_raw(small, "cmd-cut")
    assert len(kept) == 4096 and kept.endswith(b"*" * 15)


def test_an_unknown_type_that_reads_like_a_card_is_masked_where_it_is_repeated(
    care: Care,
) -> None:
    raw = envelope("cmd-type", CARD, {"actor": AGENT})

    rejected = outcome(care.send(raw, CARD))

    assert rejected["command_type"] == "**** **** **** ****"
    with care.app.engine.connect() as conn:
        [(stored_type,)] = conn.exec_driver_sql(
            "SELECT type FROM inbox WHERE message_id = 'cmd-type'"
        ).all()
    assert stored_type == "**** **** **** ****"


def test_nul_is_refused_before_a_card_so_the_refusal_can_be_stored(care: Care) -> None:
    doc = cancel_doc("cmd-nul-card", subject="a\x00b")
    doc["data"]["note"] = f"card {CARD}"

    rejected = outcome(care.send(orjson.dumps(doc), "order.cancel"))

    assert [e["type"] for e in rejected["errors"]] == ["string_nul"]
    assert "4111111111111111" not in m.digits(stored_raw(care, "cmd-nul-card"))


def test_bad_input_is_counted_whichever_way_it_ends(care: Care) -> None:
    # SPEC: bad input is rejected with a clear reason, kept for inspection and counted.
    def count(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    rejected_before = count("ordercare_rejections_total", code="not_an_envelope")
    dead_before = count("ordercare_dead_letters_total", reason="not_json")
    named = orjson.dumps({"id": "cmd-counted", "source": "s", "type": "order.cancel"})

    care.send(named, "order.cancel")
    care.send(b"\xff not json", "order.cancel")

    assert count("ordercare_rejections_total", code="not_an_envelope") == rejected_before + 1
    assert count("ordercare_dead_letters_total", reason="not_json") == dead_before + 1
