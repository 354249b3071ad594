"""billing_account.erase through RabbitMQ and PostgreSQL: a customer's name, e-mail, phone and
addresses, stored by the account, an order, an update's audit row and note, a rejected
command's kept body, a dead letter and a customer e-mail, are found nowhere in any column
of any table afterwards; the money is what it was."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import text

from notifier.intake import EventIntake
from persistence.notifications import open_notification_store
from services.accounts.erasure import pseudonym
from tests import messages as m

from .conftest import Pipeline, query, run
from .test_amendments import send
from .test_pipeline import dead_letters

NAME = "Marit Zwanenburg-Quist"
EMAIL = "marit.quist@example.org"
NEW_EMAIL = "m.zwanenquist@example.net"
PHONE = "+49 30 5550 1420"
BILLING = {"name": NAME, "line1": "Kastanienallee 9931", "city": "Quistenhagen",
           "postal_code": "10435", "country": "DE"}  # fmt: skip
DELIVERY = {"name": "M. Zwanenburg", "line1": "Torstraße 4477", "line2": "Hinterhaus links 3",
            "city": "Quistenhagen", "postal_code": "10119", "country": "DE",
            "phone": "+49 30 5550 9999"}  # fmt: skip
#: Every personal value stored, each searched for in every column afterwards.
ERASED = sorted({NAME, EMAIL, NEW_EMAIL, PHONE, *BILLING.values(), *DELIVERY.values()} - {"DE"})
TEMPLATES = {"order_confirmed": {"en": "d-confirmed-en"}}


def stored_in(pipeline: Pipeline, value: str) -> list[str]:
    """Every table.column (of the types that can hold a text) where the value occurs,
    whatever the tables are: the list comes from information_schema."""
    columns = query(
        pipeline,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type IN "
        "('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY')",
    )
    assert len(columns) > 50  # the whole schema was read
    forms = [value.encode(), orjson.dumps(value)[1:-1], json.dumps(value)[1:-1].encode()]
    found = []
    for table, column, kind in columns:
        if kind == "bytea":
            hit = "bool_or(" + " OR ".join(["position(%s in {c}) > 0"] * len(forms)) + ")"
            params: tuple[Any, ...] = tuple(forms)
        else:
            hit = "bool_or({c}::text ILIKE %s OR {c}::text ILIKE %s)"
            params = (f"%{value}%", f"%{json.dumps(value)[1:-1]}%")
        quoted = f'"{column}"'
        sql = f'SELECT coalesce({hit.format(c=quoted)}, false) FROM "{table}"'
        if query(pipeline, sql, *params)[0][0]:
            found.append(f"{table}.{column}")
    return found


def money(pipeline: Pipeline) -> list[tuple[Any, ...]]:
    return query(
        pipeline,
        "SELECT 'order', id, total::text FROM orders UNION ALL "
        "SELECT 'invoice', id, total::text FROM invoices UNION ALL "
        "SELECT 'credit_memo', id, total::text FROM credit_memos UNION ALL "
        "SELECT 'refund', id, amount::text FROM refunds ORDER BY 1, 2",
    )


def test_an_erased_customer_is_found_in_no_column_of_any_table_and_the_money_is_kept(
    pipeline: Pipeline,
) -> None:
    # Ada's shop, and a customer who told it a good deal about herself.
    assert send(pipeline, m.catalog())["type"] == "command.accepted"
    account = m.envelope("billing_account.create", {
        "actor": m.AGENT, "account_id": "acc_marit", "name": NAME, "email": EMAIL,
        "phone": PHONE, "billing_address": BILLING,
    })  # fmt: skip
    assert send(pipeline, account)["type"] == "command.accepted"
    order = m.order("ord_marit", account_id="acc_marit")
    order["data"]["delivery"]["address"] = DELIVERY
    outcome, events = run(pipeline, order)
    assert outcome["type"] == "command.accepted", outcome
    cancel = m.cancel("ord_marit")
    cancel["data"].update(scope="lines", lines=[{"line_id": "l1", "quantity": 1}])
    assert send(pipeline, cancel)["type"] == "command.accepted"  # a credit memo, a refund
    update = m.update_account("acc_marit", email=NEW_EMAIL,
                              note=f"she called from {PHONE} about {EMAIL}")  # fmt: skip
    assert send(pipeline, update)["type"] == "command.accepted"
    # A command refused (its body kept) and a message that is not even JSON (dead-lettered).
    refused = m.order("ord_marit_2", account_id="acc_marit")
    refused["data"]["delivery"]["address"] = {**DELIVERY, "postal_code": "not a code"}
    assert send(pipeline, refused)["type"] == "command.rejected"
    pipeline.publish(f"call {NAME} on {PHONE}, {EMAIL}".encode(), "order.create")
    assert len(dead_letters(pipeline, 1)) == 1
    # The customer e-mail the notifier records for the order.
    store = open_notification_store(pipeline.settings.database_url, "ordercare.events", senders=1)
    try:
        created = orjson.dumps(events["order.created"])
        assert EventIntake(store, TEMPLATES).accept(created)
    finally:
        store.close()
    before = money(pipeline)
    places = {place for value in ERASED for place in stored_in(pipeline, value)}
    assert {"notifications.data", "dead_letters.body", "inbox.raw", "audit_log.note",
            "audit_log.before", "orders.doc", "billing_accounts.email"} <= places  # fmt: skip

    erase = m.envelope(
        "billing_account.erase",
        {"actor": m.MANAGER, "account_id": "acc_marit", "reason": "customer_request"},
        subject="acc_marit",
    )
    outcome, published = run(pipeline, erase)

    assert outcome["type"] == "command.accepted", outcome
    assert outcome["data"]["result"]["fields"] == [
        "name", "email", "phone", "billing_address", "delivery_address"
    ]  # fmt: skip
    erased = outcome["data"]["result"]["erased"]
    assert erased["billing_accounts"] == 1 and erased["orders"] == 1
    assert {"inbox", "dead_letters", "notifications", "audit_log"} <= set(erased)
    assert set(published) == {"billing_account.updated"}
    assert {value: stored_in(pipeline, value) for value in ERASED} == {v: [] for v in ERASED}
    assert money(pipeline) == before
    [(name, email, phone)] = query(
        pipeline, "SELECT name, email, phone FROM billing_accounts WHERE id = 'acc_marit'"
    )
    assert (name, email, phone) == (pseudonym("acc_marit"), None, None)
    # The audit rows are all still there, and one more says the account was erased.
    actions = [a for (a,) in query(pipeline, "SELECT action FROM audit_log "
                                   "WHERE entity_id IN ('acc_marit', 'ord_marit') ORDER BY id")]  # fmt: skip
    assert actions[0] == "billing_account.created" and actions[-1] == "billing_account.erased"
    assert "billing_account.updated" in actions and "order.created" in actions

    again = dict(erase, id=erase["id"] + "-again")
    second = send(pipeline, again)
    assert second["type"] == "command.accepted"
    assert second["data"]["result"] == {
        "account_id": "acc_marit",
        "already_erased": True,
        "fields": [],
        "erased": {},
    }


def test_an_agent_may_not_erase(pipeline: Pipeline) -> None:
    assert send(pipeline, m.account("acc_ada"))["type"] == "command.accepted"
    erase = m.envelope(
        "billing_account.erase",
        {"actor": m.AGENT, "account_id": "acc_ada", "reason": "customer_request"},
    )

    outcome = send(pipeline, erase)

    assert outcome["type"] == "command.rejected"
    assert outcome["data"]["code"] == "forbidden"
    with_engine = pipeline.engine.connect()
    try:
        name = with_engine.execute(
            text("SELECT name FROM billing_accounts WHERE id = 'acc_ada'")
        ).scalar_one()
    finally:
        with_engine.close()
    assert name == "Ada Lovelace"


def test_another_customer_of_the_same_name_keeps_every_row(pipeline: Pipeline) -> None:
    for account_id, email in (("acc_marit", EMAIL), ("acc_twin", "twin@example.org")):
        account = m.envelope("billing_account.create", {
            "actor": m.AGENT, "account_id": account_id, "name": NAME, "email": email,
            "billing_address": {**BILLING, "postal_code": "10437"},
        })  # fmt: skip
        assert send(pipeline, account)["type"] == "command.accepted"
    update = m.update_account("acc_twin", locale="de", note=f"{NAME} asked for a callback")
    assert send(pipeline, update)["type"] == "command.accepted"
    twin_audit = query(
        pipeline, "SELECT note FROM audit_log WHERE entity_id = 'acc_twin' ORDER BY id"
    )
    assert any(NAME in (note or "") for (note,) in twin_audit)

    erase = m.envelope(
        "billing_account.erase",
        {"actor": m.MANAGER, "account_id": "acc_marit", "reason": "customer_request"},
    )
    assert send(pipeline, erase)["type"] == "command.accepted"

    # A name, a street or a postal code may be another customer's too: only the erased
    # customer's own rows, and rows holding their e-mail or phone, are rewritten.
    assert (
        query(pipeline, "SELECT note FROM audit_log WHERE entity_id = 'acc_twin' ORDER BY id")
        == twin_audit
    )
    assert query(pipeline, "SELECT name FROM billing_accounts WHERE id = 'acc_twin'") == [(NAME,)]
    assert query(pipeline, "SELECT name FROM billing_accounts WHERE id = 'acc_marit'") == [
        (pseudonym("acc_marit"),)
    ]
