"""Billing accounts through RabbitMQ and PostgreSQL: updates published with pika to
ordercare.commands, answers read on the events exchange or on a reply_to queue."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from actors.logs import JsonFormatter
from persistence.engine import make_engine
from persistence.repositories import ReferenceCache
from persistence.tables import SEARCH_EXPRESSIONS
from persistence.uow import SqlUnitOfWork
from services.accounts.records import SearchTerm
from services.accounts.search import CANDIDATES, FIELDS
from tests import messages as m
from tests.servers import Listener

from .conftest import Pipeline, query, run
from .test_amendments import send

VISA = "4111 1111 1111 1111"
LONDON = {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
          "postal_code": "SW1Y 4JH", "country": "GB"}  # fmt: skip


def ask(pipeline: Pipeline, doc: dict[str, Any]) -> dict[str, Any]:
    """Publish a query with a reply_to queue; the answer's data."""
    replies = Listener(pipeline.settings.amqp_url, "")
    try:
        pipeline.publish(doc, reply_to=replies.queue, correlation_id=doc["id"])
        [(props, body)] = replies.collect(lambda msgs: len(msgs) >= 1)
    finally:
        replies.close()
    assert props.correlation_id == doc["id"]
    answer: dict[str, Any] = orjson.loads(body)["data"]
    return answer


def accepted(pipeline: Pipeline, *docs: dict[str, Any]) -> None:
    for doc in docs:
        outcome = send(pipeline, doc)
        assert outcome["type"] == "command.accepted", outcome


def account(account_id: str, name: str, **fields: Any) -> dict[str, Any]:
    data = {"actor": m.AGENT, "account_id": account_id, "name": name, **fields}
    return m.envelope("billing_account.create", data)


# --- the card-number guard ----------------------------------------------------------------


def test_a_card_number_in_an_update_is_rejected_and_appears_nowhere_in_the_inbox_or_the_logs(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # as configure_logging() does: Dramatiq's "Received args=…" stays out at DEBUG
    caplog.set_level(logging.INFO, logger="actors.bootstrap")
    accepted(pipeline, m.account())
    card = m.update_account(note=f"customer read out {VISA}", add_payment_methods=[
        {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030,
         "token_ref": "tok_" + VISA.replace(" ", "")}])  # fmt: skip

    outcome = send(pipeline, card)

    assert outcome["type"] == "command.rejected"
    assert (outcome["data"]["code"], outcome["data"]["errors"][0]["type"]) == (
        "invalid",
        "card_number",
    )
    assert outcome["data"]["errors"][0]["loc"] == "data.note"
    digits = VISA.replace(" ", "")
    [(raw, stored_outcome)] = query(
        pipeline, "SELECT raw, outcome FROM inbox WHERE message_id = %s", card["id"]
    )
    for kept in (bytes(raw), bytes(stored_outcome), orjson.dumps(outcome)):
        assert digits.encode() not in kept and VISA.encode() not in kept
    assert b"**** **** **** ****" in bytes(raw)
    assert query(pipeline, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert query(pipeline, "SELECT version, payment_methods FROM billing_accounts") == [(1, [])]
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "command rejected" in logged
    assert digits not in logged and VISA not in logged


# --- update ---------------------------------------------------------------------------------


def test_an_update_with_a_stale_expected_version_is_a_version_conflict(pipeline: Pipeline) -> None:
    accepted(pipeline, m.account())

    first = send(pipeline, m.update_account(phone="+44 20 7946 0958", expected_version=1))
    stale = send(pipeline, m.update_account(phone="+44 20 7946 0000", expected_version=1))

    assert (first["type"], first["data"]["version"]) == ("command.accepted", 2)
    assert stale["data"]["code"] == "version_conflict"
    assert stale["data"]["details"] == {"current_version": 2, "expected_version": 1}
    assert query(pipeline, "SELECT version, phone FROM billing_accounts") == [
        (2, "+44 20 7946 0958")
    ]


def test_a_billing_address_is_validated_and_a_valid_one_stored(pipeline: Pipeline) -> None:
    accepted(pipeline, m.account())

    refused = send(pipeline, m.update_account(billing_address={**LONDON, "postal_code": "10117"}))
    moved = send(pipeline, m.update_account(billing_address=LONDON))

    assert refused["data"]["code"] == "invalid"
    assert refused["data"]["errors"][0]["loc"] == "data.billing_address.postal_code"
    assert moved["data"]["result"]["changed"] == ["billing_address"]
    [(address,)] = query(pipeline, "SELECT billing_address FROM billing_accounts")
    assert address["postal_code"] == "SW1Y 4JH"


def test_an_account_on_hold_cannot_take_new_orders_until_it_is_released(
    pipeline: Pipeline,
) -> None:
    accepted(pipeline, m.catalog(), m.account(), m.update_account(hold=True, reason="fraud_check"))

    refused = send(pipeline, m.order("ord_1001"))
    accepted(pipeline, m.update_account(hold=False))
    placed = send(pipeline, m.order("ord_1001"))

    assert refused["data"]["code"] == "not_allowed_in_state"
    assert "billing account acc_ada is on_hold" in refused["data"]["message"]
    assert placed["type"] == "command.accepted"


def test_the_updated_event_names_what_changed_without_contact_data(pipeline: Pipeline) -> None:
    accepted(pipeline, m.account())

    outcome, events = run(pipeline, m.update_account(phone="+44 20 7946 0958",
                                                     billing_address=LONDON, locale="en-GB"))  # fmt: skip

    updated = events["billing_account.updated"]
    assert updated["subject"] == "acc_ada"
    assert updated["correlationid"] == "ticket-4411"
    assert updated["data"] == {
        "account_id": "acc_ada",
        "version": 2,
        "changed": ["phone", "billing_address", "locale"],
        "status": "active",
        "payment_methods_added": [],
        "payment_methods_removed": [],
    }
    assert outcome["data"]["event_ids"] == [updated["id"]]


# --- search -------------------------------------------------------------------------------


def seed_people(pipeline: Pipeline) -> None:
    accepted(
        pipeline,
        m.catalog(),
        account("acc_ada", "Ada Lovelace", email="ada.lovelace@example.com",
                phone="+44 20 7946 0958", billing_address=LONDON),
        account("acc_ada_b", "Ada", email="ada@example.org", phone="030 1234 5678"),
        account("acc_adam", "Adam Smith", email="adam.smith@example.net"),
        account("acc_grace", "Grace Hopper", email="grace@navy.example", phone="+1 703 555 0100"),
        account("acc_nada", "Nada Adams", email="nada@example.com"),
        m.order("ord_1001"),
        m.order("ord_1002", account_id="acc_grace"),
    )  # fmt: skip


def hits(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(h["account_id"], h["match_field"], h["match"]) for h in answer["result"]["hits"]]


def test_search_is_partial_case_insensitive_ranked_and_paged(pipeline: Pipeline) -> None:
    seed_people(pipeline)

    first = ask(pipeline, m.search_accounts("ADA", field="name", page_size=2))
    second = ask(pipeline, m.search_accounts("ADA", field="name", page_size=2, page=2))
    partial = ask(pipeline, m.search_accounts("oveLAC"))

    # exact, then prefixes by trigram similarity, then values containing it
    assert hits(first) == [("acc_ada_b", "name", "exact"), ("acc_ada", "name", "prefix")]
    assert first["result"]["has_more"] is True
    assert hits(second) == [("acc_adam", "name", "prefix"), ("acc_nada", "name", "partial")]
    assert second["result"]["has_more"] is False
    [ada] = partial["result"]["hits"]
    assert (ada["account_id"], ada["match_field"]) == ("acc_ada", "name")
    assert (ada["email"], ada["phone"], ada["postal_code"]) == (
        "ad***e@example.com", "********0958", "SW1Y 4JH",
    )  # fmt: skip
    assert 0 < ada["score"] < 1


def test_search_finds_phones_postal_codes_and_order_numbers(pipeline: Pipeline) -> None:
    seed_people(pipeline)

    by_phone = ask(pipeline, m.search_accounts("(703) 555-01"))
    by_postcode = ask(pipeline, m.search_accounts("sw1y4jh", field="postal_code"))
    by_order = ask(pipeline, m.search_accounts("ORD_100"))
    by_email = ask(pipeline, m.search_accounts("smith@EXAMPLE", field="email"))

    assert hits(by_phone) == [("acc_grace", "phone", "partial")]
    assert hits(by_postcode) == [("acc_ada", "postal_code", "exact")]
    assert sorted(h["order_id"] for h in by_order["result"]["hits"]) == ["ord_1001", "ord_1002"]
    assert {h["match_field"] for h in by_order["result"]["hits"]} == {"order_id"}
    assert hits(by_email) == [("acc_adam", "email", "partial")]


def test_a_search_answers_on_reply_to_only_and_refuses_a_short_field_query(
    pipeline: Pipeline,
) -> None:
    seed_people(pipeline)
    short = m.search_accounts("+4-4", field="phone")

    refused = ask(pipeline, short)

    assert (refused["code"], refused["errors"][0]["loc"]) == ("invalid", "data.q")
    assert all(short["id"].encode() not in body for _p, body in pipeline.events.drain())
    assert query(pipeline, "SELECT count(*) FROM inbox WHERE message_id = %s", short["id"]) == [
        (0,)
    ]


def test_every_search_expression_is_answered_from_its_trigram_and_prefix_indexes(
    database_url: str,
) -> None:
    assert set(SEARCH_EXPRESSIONS) == set(FIELDS)
    engine = make_engine(database_url, pool_size=1)
    try:
        with SqlUnitOfWork(engine, ReferenceCache()) as uow:
            views = uow.account_views
            views.sql.run("SET LOCAL enable_seqscan = off")  # the test tables are tiny
            for field in FIELDS:
                statement, params = views.statement([SearchTerm(field, "ada")], 21, CANDIDATES)
                plan = "\n".join(r[0] for r in views.sql.all(f"EXPLAIN {statement}", params))
                table = "orders_id" if field == "order_id" else f"billing_accounts_{field}"
                assert f"Bitmap Index Scan on ix_{table}_trgm" in plan, plan  # contains
                assert plan.count(f"ix_{table}_prefix") == 2, plan  # exact and prefix
                assert "Seq Scan" not in plan, plan
    finally:
        engine.dispose()


# --- the account view and the audit trail ----------------------------------------------------


def test_the_account_view_shows_contact_cards_orders_money_documents_and_store_credit(
    pipeline: Pipeline,
) -> None:
    card = {"brand": "mastercard", "last4": "4444", "exp_month": 3, "exp_year": 2029,
            "token_ref": "tok_ada_mc", "payment_method_id": "pm_ada_mc"}  # fmt: skip
    accepted(pipeline, m.catalog(), m.account(), m.order("ord_1001"),
             m.update_account(phone="+44 20 7946 0958", add_payment_methods=[card]))  # fmt: skip
    cancel = m.cancel("ord_1001")
    cancel["data"]["settle_to"] = "store_credit"
    accepted(pipeline, cancel, m.order("ord_1002"))

    view = ask(pipeline, m.get_account())["result"]

    assert (view["name"], view["email"], view["phone"], view["version"]) == (
        "Ada Lovelace", "ada@example.com", "+44 20 7946 0958", 2,
    )  # fmt: skip
    assert view["payment_methods"] == [{k: card[k] for k in ("payment_method_id", "brand", "last4",
                                       "exp_month", "exp_year", "token_ref")}]  # fmt: skip
    assert view["store_credit_balance"] == [{"amount": m.ADA_TOTAL, "currency": "EUR"}]
    assert [e["reason"] for e in view["store_credit_entries"]] == ["refund"]
    newest, cancelled = view["orders"]
    assert (newest["order_id"], newest["status"], newest["total"]) == (
        "ord_1002",
        "open",
        m.ADA_TOTAL,
    )
    assert (newest["balance_due"], newest["credit_owed"]) == ("0.00", "0.00")
    assert (cancelled["order_id"], cancelled["status"]) == ("ord_1001", "cancelled")
    assert len(cancelled["invoices"]) == len(cancelled["credit_memos"]) == 1
    assert [r["method"] for r in cancelled["refunds"]] == ["store_credit"]
    assert (view["orders_total"], view["appeasements"]) == (2, [])


def test_the_audit_trail_is_newest_first_paged_and_says_who_why_and_which_ticket(
    pipeline: Pipeline,
) -> None:
    accepted(pipeline, m.account())
    changes = [m.update_account(locale=locale, reason="customer_request", note=f"wants {locale}")
               for locale in ("fr-FR", "de-DE", "en-GB")]  # fmt: skip
    accepted(pipeline, *changes)

    first = ask(pipeline, m.audit("billing_account", "acc_ada", page_size=3))["result"]
    rest = ask(pipeline, m.audit("billing_account", "acc_ada", page_size=3,
                                 before=first["next_before"]))["result"]  # fmt: skip

    entries = first["entries"]
    assert [e["after"] for e in entries] == [{"locale": "en-GB"}, {"locale": "de-DE"},
                                             {"locale": "fr-FR"}]  # fmt: skip
    assert entries[0]["before"] == {"locale": "de-DE"}
    newest = entries[0]
    assert (newest["actor"], newest["source"], newest["reason"], newest["note"]) == (
        m.AGENT, "helpdesk/eu-1", "customer_request", "wants en-GB",
    )  # fmt: skip
    assert (newest["ticket"], newest["command_id"]) == ("ticket-4411", changes[-1]["id"])
    assert first["has_more"] is True
    assert [e["action"] for e in rest["entries"]] == ["billing_account.created"]
    assert (rest["has_more"], rest["next_before"]) == (False, None)
    assert first["entries"][0]["at"] >= first["entries"][1]["at"]


def test_the_audit_trail_of_an_order_lists_its_changes(pipeline: Pipeline) -> None:
    accepted(pipeline, m.catalog(), m.account(), m.order("ord_1001"), m.cancel("ord_1001"))

    trail = ask(pipeline, m.audit("order", "ord_1001"))["result"]
    unknown = ask(pipeline, m.audit("order", "ord_nope"))

    assert [e["action"] for e in trail["entries"]] == ["order.cancelled", "order.created"]
    assert unknown["code"] == "not_found"
