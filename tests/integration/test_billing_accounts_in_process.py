"""Billing accounts (issue 5) through the processor, in process on PostgreSQL: the
card-number guard keeps a number out of every table, message and log; update, search, the
account view and the audit trail end to end."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from actors.embedded import EmbeddedOrderCare
from actors.logs import JsonFormatter
from actors.settings import Settings
from persistence.outbox import OutboundMessage
from services.accounts.cards import has_card_number
from tests.unit.test_billing_accounts import AGENT, CARD, GB, VISA

REPLY_TO = "amq.gen-helpdesk-reply"


@pytest.fixture
def care(database_url: str) -> Iterator[EmbeddedOrderCare]:
    """OrderCare in process on this test's database, with Ada's billing account."""
    care = EmbeddedOrderCare(Settings(), database_url)
    account = {"actor": AGENT, "account_id": "acc_ada", "name": "Ada Lovelace",
               "email": "ada.lovelace@example.com", "phone": "+44 20 7946 0958", "billing_address": GB}  # fmt: skip
    send(care, "billing_account.create", account, "cmd_create")
    yield care
    care.close()


def send(care: EmbeddedOrderCare, type_: str, data: dict[str, Any], message_id: str,
         reply_to: str | None = None, **extra: Any) -> list[OutboundMessage]:  # fmt: skip
    doc = {"specversion": "1.0", "id": message_id, "source": "helpdesk/zendesk", "type": type_,
           "correlationid": "ticket-4411", "data": data, **extra}  # fmt: skip
    return care.send(orjson.dumps(doc), type_, reply_to=reply_to)


def answer(published: list[OutboundMessage]) -> dict[str, Any]:
    [reply] = [m for m in published if m.routing_key == REPLY_TO]
    document: dict[str, Any] = orjson.loads(reply.body)
    return document


def inbox(care: EmbeddedOrderCare) -> list[tuple[Any, ...]]:
    with care.engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT message_id, subject, outcome, raw FROM inbox"))


def everything_stored(care: EmbeddedOrderCare) -> str:
    with care.engine.connect() as conn:
        tables = ["inbox", "outbox", "dead_letters", "audit_log", "billing_accounts"]
        rows = [r for t in tables for r in conn.exec_driver_sql(f"SELECT * FROM {t}")]
    return repr(rows)


def test_an_update_carrying_a_card_number_is_rejected_and_the_number_is_stored_nowhere(
    care: EmbeddedOrderCare,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = {"actor": AGENT, "account_id": "acc_ada", "note": f"customer says {VISA}",
            "add_payment_methods": [{**CARD, "token_ref": "tok_" + VISA.replace(" ", "")}]}  # fmt: skip

    published = send(care, "billing_account.update", data, "cmd_card")

    [outcome] = [m for m in published if m.routing_key == "command.rejected"]
    rejected = orjson.loads(outcome.body)["data"]
    assert rejected["code"] == "invalid"
    assert rejected["errors"] == [
        {"loc": "data.note", "message": "looks like a card number", "type": "card_number"}
    ]
    assert "card number" in rejected["message"]
    digits = VISA.replace(" ", "")
    [(_id, _subject, _outcome, raw)] = [r for r in inbox(care) if r[0] == "cmd_card"]
    assert b"**** **** **** ****" in raw
    for text in (everything_stored(care), repr([m.body for m in published])):
        assert digits not in text and VISA not in text
    logged = "".join(JsonFormatter().format(r) for r in caplog.records)
    assert digits not in logged and VISA not in logged
    assert stored_account(care)["version"] == 1


def stored_account(care: EmbeddedOrderCare) -> dict[str, Any]:
    with care.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT version, status FROM billing_accounts").one()
    return {"version": row[0], "status": row[1]}


#: A UUIDv4 whose digit groups, read across the dashes, pass the Luhn check (1 in 340 do).
CARD_LIKE_UUID = "7ee5e857-3489-4498-9143-40ff813fb5cd"


def test_identifiers_are_never_scanned_so_a_card_like_uuid_is_echoed_verbatim(
    care: EmbeddedOrderCare,
) -> None:
    assert has_card_number(CARD_LIKE_UUID)  # what the scanner would say of it as text

    published = send(care, "billing_account.update", {"actor": AGENT, "account_id": "acc_ada",
                     "name": "Ada"}, CARD_LIKE_UUID, subject="acc_ada",
                     causationid=CARD_LIKE_UUID)  # fmt: skip

    [outcome] = [m for m in published if m.routing_key.startswith("command.")]
    assert outcome.routing_key == "command.accepted"
    assert orjson.loads(outcome.body)["data"]["command_id"] == CARD_LIKE_UUID
    assert [r[0] for r in inbox(care)] == ["cmd_create", CARD_LIKE_UUID]


def test_a_search_carrying_a_card_number_is_refused_on_reply_to_and_not_recorded(
    care: EmbeddedOrderCare,
) -> None:
    published = send(care, "billing_account.search", {"actor": AGENT, "q": VISA}, "q_card",
                     reply_to=REPLY_TO)  # fmt: skip

    assert answer(published)["data"]["code"] == "invalid"
    assert [r[0] for r in inbox(care)] == ["cmd_create"]
    assert VISA not in everything_stored(care)


def test_an_unreadable_billing_account_body_with_a_card_number_is_dead_lettered_masked(
    care: EmbeddedOrderCare,
) -> None:

    published = care.send(f'{{"note": "{VISA}", broken'.encode(), "billing_account.update")

    [dead] = [m for m in published if m.routing_key == care.settings.dead_letter_queue]
    assert b"**** **** **** ****" in dead.body
    assert VISA not in everything_stored(care)


def test_an_order_message_is_not_checked_for_card_numbers(care: EmbeddedOrderCare) -> None:
    published = send(care, "order.get", {"actor": AGENT, "order_id": "ord_4111111111111111"},
                     "q_order", reply_to=REPLY_TO)  # fmt: skip

    assert answer(published)["data"]["code"] == "not_found"


def test_update_search_get_and_audit_work_end_to_end_in_process(care: EmbeddedOrderCare) -> None:
    update = {"actor": AGENT, "account_id": "acc_ada", "hold": True, "expected_version": 1,
              "reason": "fraud_check", "note": "chargeback pending"}  # fmt: skip
    accepted = send(care, "billing_account.update", update, "cmd_hold")
    conflict = send(care, "billing_account.update", update, "cmd_hold_again")

    found = send(care, "billing_account.search", {"actor": AGENT, "q": "LOVEL"}, "q1", REPLY_TO)
    by_postcode = send(care, "billing_account.search",
                       {"actor": AGENT, "q": "sw1y4jh", "field": "postal_code"}, "q2", REPLY_TO)  # fmt: skip
    view = send(care, "billing_account.get", {"actor": AGENT, "account_id": "acc_ada"}, "q3",
                REPLY_TO)  # fmt: skip
    trail = send(care, "audit.get", {"actor": AGENT, "entity_type": "billing_account",
                                     "entity_id": "acc_ada"}, "q4", REPLY_TO)  # fmt: skip

    assert [m.routing_key for m in accepted if m.exchange == "ordercare.events"] == [
        "billing_account.updated", "command.accepted",
    ]  # fmt: skip
    assert orjson.loads(conflict[-1].body)["data"]["code"] == "version_conflict"
    [hit] = answer(found)["data"]["result"]["hits"]
    assert (hit["match_field"], hit["match"], hit["email"]) == (
        "name",
        "partial",
        "ad***e@example.com",
    )
    assert answer(by_postcode)["data"]["result"]["hits"][0]["match"] == "exact"
    assert answer(view)["data"]["result"]["status"] == "on_hold"
    entries = answer(trail)["data"]["result"]["entries"]
    assert [e["action"] for e in entries] == ["billing_account.updated", "billing_account.created"]
    assert (entries[0]["reason"], entries[0]["note"], entries[0]["ticket"]) == (
        "fraud_check", "chargeback pending", "ticket-4411",
    )  # fmt: skip


def test_a_card_number_in_the_note_of_any_command_is_refused_and_stored_nowhere(
    care: EmbeddedOrderCare,
) -> None:
    data = {"actor": AGENT, "kind": "store_credit", "account_id": "acc_ada", "amount": "5.00",
            "currency": "EUR", "reason": "late_delivery", "note": f"refund to {VISA}"}  # fmt: skip

    published = send(care, "appeasement.offer", data, "cmd_offer_card")

    [outcome] = [m for m in published if m.routing_key == "command.rejected"]
    assert orjson.loads(outcome.body)["data"]["errors"][0]["loc"] == "data.note"
    digits = VISA.replace(" ", "")
    for text in (everything_stored(care), repr([m.body for m in published])):
        assert digits not in text and VISA not in text
