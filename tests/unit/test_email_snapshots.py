"""Snapshots of every e-mail kind, in English and German: the template data and the
plain text (in the customer's language) the notifier makes of events the real domain published (Ada's order through
the handlers, in memory), compared with tests/fixtures/emails/<kind>.<scenario>.<locale>.json.

A difference fails. After a deliberate change, regenerate and read what changed:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_email_snapshots.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from contracts.fulfillment import Backordered, Delivered, ShortPicked
from contracts.orders import AmendOrder, CancelOrder, ChangeDelivery
from contracts.payments import RefundConfirmed
from notifier.kinds import KINDS, Customer, notifications_for
from notifier.render import plain_text
from services.context import Change
from services.orders import fulfillment, payments
from services.orders.handlers import amend_order, cancel_order, change_delivery
from tests.notifier_events import cloudevent

from .builders import Helpdesk, ship
from .fakes import FakeReference
from .test_returns import arrive, ask, delivered

SNAPSHOTS = Path(__file__).parent.parent / "fixtures" / "emails"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"

CUSTOMERS = {
    "en": Customer("acc_ada", "Ada Lovelace", "ada@example.org", "en"),
    "de": Customer("acc_ada", "Ada Lovelace", "ada@example.org", "de-DE"),
}

#: Paid in full when placed (61.90 captured), or only authorised (nothing captured yet).
CAPTURED = {"authorized": "61.90", "captured": "61.90", "reference": "psp_ch_4242"}
AUTHORISED = {"authorized": "61.90", "captured": "0", "reference": "psp_ch_4242"}

#: What a scenario gives: the event the e-mail is about, and whether the customer may be told.
Mailed = tuple[BaseModel, bool]


def shop(payment: dict[str, str] = CAPTURED) -> Helpdesk:
    desk = Helpdesk()
    desk.place_ada(payment=payment)
    return desk


def last(change: Change, kind: str) -> BaseModel:
    [event] = [e for e in change.events if KINDS.get(getattr(e, "TYPE", "")) == kind]
    return event


def amend(desk: Helpdesk, *changes: dict[str, Any], notify: bool = True) -> Change:
    return desk.send(amend_order, AmendOrder, order_id="ord_ada_1", reason="customer_request",
                     changes=list(changes), notify_customer=notify)  # fmt: skip


def cut(desk: Helpdesk, notify: bool = True) -> Change:
    """One of the two mugs fewer."""
    return amend(desk, {"action": "set_quantity", "line_id": "l1", "quantity": 1}, notify=notify)


def cancel(desk: Helpdesk) -> Change:
    return desk.send(cancel_order, CancelOrder, order_id="ord_ada_1", reason="customer_request")


def short(desk: Helpdesk) -> Change:
    return desk.send(fulfillment.short_picked, ShortPicked, role="system", order_id="ord_ada_1",
                     line_id="l1", sku="MUG-ADA", quantity=1, warehouse="wh_leipzig")  # fmt: skip


def confirm_refund(desk: Helpdesk) -> Change:
    [*_, refund] = desk.uow.ledger.for_order("ord_ada_1").refunds
    return desk.send(payments.refund_settled, RefundConfirmed, role="system",
                     order_id="ord_ada_1", refund_id=refund.refund_id)  # fmt: skip


def placed_captured() -> Mailed:
    return last(Helpdesk().place_ada(payment=CAPTURED), "order_confirmed"), True


def placed_authorised() -> Mailed:
    return last(Helpdesk().place_ada(payment=AUTHORISED), "order_confirmed"), True


#: The same order in a market whose EUR prices include tax: 2 x 12.30 + 24.99 + 4.95.
GROSS = {"authorized": "54.54", "captured": "54.54", "reference": "psp_ch_4242"}


def gross_shop() -> Helpdesk:
    desk = Helpdesk(FakeReference(tax_included=frozenset({"EUR"})))
    desk.place_ada(payment=GROSS)
    return desk


def placed_tax_included() -> Mailed:
    desk = Helpdesk(FakeReference(tax_included=frozenset({"EUR"})))
    return last(desk.place_ada(payment=GROSS), "order_confirmed"), True


def mixed_tax_included() -> Mailed:
    """The book goes, a poster comes: one credit memo for the difference, one refund."""
    change = amend(gross_shop(), {"action": "remove", "line_id": "l2"},
                   {"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1})  # fmt: skip
    return last(change, "order_changed"), True


def swap() -> Mailed:
    change = amend(shop(), {"action": "replace", "line_id": "l1", "sku": "MUG-TURING"})
    return last(change, "order_changed"), True


def cut_authorised() -> Mailed:
    return last(cut(shop(AUTHORISED)), "order_changed"), True


def cut_captured() -> Mailed:
    return last(cut(shop()), "order_changed"), True


def increase_captured() -> Mailed:
    change = amend(shop(), {"action": "set_quantity", "line_id": "l1", "quantity": 3})
    return last(change, "order_changed"), True


def suppressed_then_told() -> Mailed:
    desk = shop()
    cut(desk, notify=False)
    change = amend(desk, {"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1})
    return last(change, "order_changed"), True


def express() -> Mailed:
    desk = shop()
    change = desk.send(change_delivery, ChangeDelivery, order_id="ord_ada_1",
                       reason="customer_request", method="express")  # fmt: skip
    return last(change, "order_changed"), True


def cancelled_authorised() -> Mailed:
    return last(cancel(shop(AUTHORISED)), "order_cancelled"), True


def cancelled_captured() -> Mailed:
    return last(cancel(shop()), "order_cancelled"), True


def short_authorised() -> Mailed:
    return last(short(shop(AUTHORISED)), "item_short"), True


def short_captured() -> Mailed:
    return last(short(shop()), "item_short"), True


def backordered() -> Mailed:
    change = shop().send(fulfillment.backordered, Backordered, role="system",
                         order_id="ord_ada_1", line_id="l2", quantity=1,
                         expected_date="2026-12-10", warehouse="wh_leipzig")  # fmt: skip
    return last(change, "item_backordered"), True


def shipped() -> Mailed:
    return last(ship(shop(), "shp_1", l1=2, l2=1), "shipped"), True


def delivery() -> Mailed:
    desk = shop()
    ship(desk, "shp_1", l1=2, l2=1)
    change = desk.send(fulfillment.delivered, Delivered, role="system", order_id="ord_ada_1",
                       shipment_id="shp_1")  # fmt: skip
    return last(change, "delivered"), True


def refund_told() -> Mailed:
    desk = shop()
    cut(desk)
    return last(confirm_refund(desk), "refund_issued"), True


def refund_suppressed() -> Mailed:
    desk = shop()
    cut(desk, notify=False)
    change = confirm_refund(desk)
    return last(change, "refund_issued"), change.notify_customer


def returned() -> Mailed:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))
    change = arrive(desk, ("l1", "MUG-ADA", "resellable", 1))
    return last(change, "return_received"), True


SCENARIOS: dict[str, Callable[[], Mailed]] = {
    "order_confirmed.captured": placed_captured,
    "order_confirmed.authorised_only": placed_authorised,
    "order_confirmed.tax_included": placed_tax_included,
    "order_changed.mixed_tax_included": mixed_tax_included,
    "order_changed.swap": swap,
    "order_changed.cut_authorised_only": cut_authorised,
    "order_changed.cut_captured": cut_captured,
    "order_changed.increase_captured": increase_captured,
    "order_changed.after_a_suppressed_change": suppressed_then_told,
    "order_changed.delivery": express,
    "order_cancelled.authorised_only": cancelled_authorised,
    "order_cancelled.captured": cancelled_captured,
    "item_short.authorised_only": short_authorised,
    "item_short.captured": short_captured,
    "item_backordered.book": backordered,
    "shipped.everything": shipped,
    "delivered.everything": delivery,
    "refund_issued.told": refund_told,
    "refund_issued.suppressed": refund_suppressed,
    "return_received.one_mug": returned,
}


def snapshot(name: str, locale: str) -> dict[str, Any]:
    event, notify = SCENARIOS[name]()
    extensions = {} if notify else {"notifycustomer": False}
    envelope = cloudevent(event, event_id="evt_1", **extensions)
    [mail] = notifications_for(envelope, CUSTOMERS[locale])
    return {
        "scenario": name,
        "event_type": mail.event_type,
        "kind": mail.kind,
        "locale": mail.locale,
        "skip": mail.skip,
        "data": mail.data,
        "text": plain_text(mail.kind, mail.data, mail.locale).splitlines(),
    }


@pytest.mark.parametrize("locale", sorted(CUSTOMERS))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_email_matches_its_snapshot(name: str, locale: str) -> None:
    got = snapshot(name, locale)
    path = SNAPSHOTS / f"{name}.{locale}.json"
    if UPDATE:
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1"
    assert got == json.loads(path.read_text()), f"{path.name} differs"


def test_the_snapshots_cover_every_kind_and_nothing_else_is_stored() -> None:
    assert {name.split(".")[0] for name in SCENARIOS} == set(KINDS.values())
    stored = {p.name for p in SNAPSHOTS.glob("*.json")}
    assert stored == {f"{n}.{locale}.json" for n in SCENARIOS for locale in CUSTOMERS}


def test_no_authorised_only_email_ever_says_the_customer_owes() -> None:
    for name in SCENARIOS:
        if "authorised_only" not in name:
            continue
        for locale in CUSTOMERS:
            got = snapshot(name, locale)
            assert got["data"].get("owed") is None, name
            owing = ("pay the remaining", "owe", "offenen Betrag")
            assert not any(w in ln for w in owing for ln in got["text"]), name
