"""What the customer was last told of an order: a suppressed change leaves it alone, a told
change moves it, and every change event carries it for the e-mail to compare with."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from contracts.orders import AmendOrder, OrderAmended, ToldLine
from contracts.payments import Captured, RefundConfirmed
from contracts.returns import CreateReturn
from notifier.kinds import notifications_for
from services.context import Change
from services.orders import payments
from services.orders.handlers import amend_order
from services.orders.return_handlers import create_return
from services.orders.told import Told
from services.orders.told import ToldLine as Line
from tests.notifier_events import ADA, cloudevent

from .builders import Helpdesk, ship

#: Two mugs at 12.30 and a book at 24.99 to Berlin: 61.90 with VAT and shipping.
PLACED = Told(
    Decimal("61.90"),
    {
        "l1": Line("MUG-ADA", "Ada Lovelace mug", 2, Decimal("12.30")),
        "l2": Line("BOOK-ENGINE", "The Analytical Engine", 1, Decimal("24.99")),
    },
    captured=Decimal("61.90"),
)


def amend(desk: Helpdesk, *changes: dict[str, Any], notify: bool = True) -> OrderAmended:
    change: Change = desk.send(amend_order, AmendOrder, order_id="ord_ada_1",
                               reason="customer_request", changes=list(changes),
                               notify_customer=notify)  # fmt: skip
    [event] = [e for e in change.events if isinstance(e, OrderAmended)]
    return event


def test_a_placed_order_keeps_what_its_confirmation_told() -> None:
    desk = Helpdesk()
    desk.place_ada()
    assert desk.order().told == PLACED


def test_an_order_placed_without_telling_the_customer_has_told_them_nothing() -> None:
    desk = Helpdesk()
    desk.place_ada(notify_customer=False)
    assert desk.order().told == Told(Decimal(0))


def test_a_suppressed_change_leaves_the_told_state_and_the_next_change_compares_with_it() -> None:
    desk = Helpdesk()
    desk.place_ada()
    quiet = amend(desk, {"action": "set_quantity", "line_id": "l1", "quantity": 1}, notify=False)
    assert quiet.told is not None and quiet.told.total == Decimal("61.90")
    assert desk.order().told == PLACED  # the customer was not told

    told = amend(desk, {"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1})

    assert told.told is not None
    assert told.told.total == Decimal("61.90")  # not the total after the suppressed change
    assert ToldLine(line_id="l1", sku="MUG-ADA", name="Ada Lovelace mug", quantity=2,
                    unit_price=Decimal("12.30")) in told.told.lines  # fmt: skip
    after = desk.order()
    assert after.told is not None and after.told.total == after.priced().total
    assert after.told.lines["l1"].quantity == 1

    [mail] = notifications_for(cloudevent(told), ADA)
    changes = {(c["action"], c["sku"], c["old_quantity"], c["new_quantity"])
               for c in mail.data["changes"]}  # fmt: skip
    # The suppressed mug cut shows in the next told e-mail, beside the poster added.
    assert changes == {("quantity_changed", "MUG-ADA", 2, 1), ("added", "POSTER-BABBAGE", 0, 1)}
    assert mail.data["old_total"] == {"amount": "61.90", "currency": "EUR"}


def test_a_swap_names_the_replaced_item_and_its_replacement() -> None:
    desk = Helpdesk()
    desk.place_ada()
    event = amend(desk, {"action": "replace", "line_id": "l1", "sku": "MUG-TURING"})

    [mail] = notifications_for(cloudevent(event), ADA)

    [swap] = mail.data["changes"]
    assert swap["action"] == "replaced"
    assert (swap["old"]["sku"], swap["old"]["name"], swap["old"]["quantity"]) == (
        "MUG-ADA", "Ada Lovelace mug", 2)  # fmt: skip
    assert (swap["new"]["sku"], swap["new"]["name"], swap["new"]["unit_price"]["amount"]) == (
        "MUG-TURING", "Alan Turing mug", "9.90")  # fmt: skip


@pytest.mark.parametrize("notify", [False, True])
def test_a_refunds_confirmation_is_as_quiet_as_the_change_that_made_it(notify: bool) -> None:
    desk = Helpdesk()
    desk.place_ada()
    amend(desk, {"action": "set_quantity", "line_id": "l1", "quantity": 1}, notify=notify)
    [refund] = desk.uow.ledger.for_order("ord_ada_1").refunds
    assert refund.notify_customer is notify

    confirmed = desk.send(payments.refund_settled, RefundConfirmed, role="system",
                          order_id="ord_ada_1", refund_id=refund.refund_id)  # fmt: skip

    assert confirmed.notify_customer is notify


def test_a_command_that_e_mails_no_comparison_leaves_the_told_state() -> None:
    """A quiet cut, then the warehouse ships the book (a shipped e-mail, no comparison): the
    next told change still shows the cut and compares with the total the customer knew."""
    desk = Helpdesk()
    desk.place_ada()
    amend(desk, {"action": "set_quantity", "line_id": "l1", "quantity": 1}, notify=False)
    ship(desk, l2=1)
    assert desk.order().told == PLACED

    told = amend(desk, {"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1})

    [mail] = notifications_for(cloudevent(told), ADA)
    changes = {(c["action"], c["sku"]) for c in mail.data["changes"]}
    assert changes == {("quantity_changed", "MUG-ADA"), ("added", "POSTER-BABBAGE")}
    assert mail.data["old_total"] == {"amount": "61.90", "currency": "EUR"}


def test_a_capture_since_the_last_e_mail_is_not_money_no_longer_charged() -> None:
    """Authorised only; a quiet cut (12.30 + tax less to capture), then the payment service
    captures what is due, then a told cut: the e-mail says what the two cuts release
    (the capture is not a release) and nothing is owed."""
    desk = Helpdesk()
    desk.place_ada(payment={"authorized": "61.90", "captured": "0", "reference": "psp_1"})
    amend(desk, {"action": "set_quantity", "line_id": "l1", "quantity": 1}, notify=False)
    due = desk.order().payment_state().to_capture
    desk.send(payments.captured, Captured, role="system", order_id="ord_ada_1",
              amount=str(due), currency="EUR")  # fmt: skip
    assert desk.order().told == Told(PLACED.total, PLACED.lines, to_capture=Decimal("61.90"))

    told = amend(desk, {"action": "set_quantity", "line_id": "l2", "quantity": 0})

    [mail] = notifications_for(cloudevent(told), ADA)
    # 14.63 released by the quiet cut; the book (26.74) is refunded, it was captured
    assert mail.data["no_longer_charged"] == {"amount": "14.63", "currency": "EUR"}
    assert mail.data["refunded"]["amount"] == "26.74"
    assert mail.data["owed"] is None


def test_an_order_stored_before_told_existed_takes_its_state_when_first_touched() -> None:
    desk = Helpdesk()
    desk.place_ada()
    stored = desk.order()
    stored.told = None
    desk.uow.orders.save(stored)
    amend(desk, {"action": "set_quantity", "line_id": "l1", "quantity": 1}, notify=False)
    assert desk.order().told == PLACED

    told = amend(desk, {"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1})

    [mail] = notifications_for(cloudevent(told), ADA)
    assert mail.data["old_total"] == {"amount": "61.90", "currency": "EUR"}
    assert ("quantity_changed", "MUG-ADA") in {
        (c["action"], c["sku"]) for c in mail.data["changes"]
    }


def test_an_exchanges_replacement_is_an_added_item_not_a_swap_of_the_line() -> None:
    """A quiet exchange of one of the two mugs for a Turing mug: the next told e-mail adds
    the Turing mug; the customer keeps the Lovelace mugs' line."""
    desk = Helpdesk()
    desk.place_ada()
    ship(desk, l1=2, l2=1)
    desk.send(create_return, CreateReturn, order_id="ord_ada_1", return_id="rma_1",
              method="drop_off", lines=[{"line_id": "l1", "quantity": 1, "reason": "wrong_size"}],
              replacements=[{"line_id": "l1", "sku": "MUG-TURING"}],
              notify_customer=False)  # fmt: skip

    told = amend(desk, {"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1})

    [mail] = notifications_for(cloudevent(told), ADA)
    changes = {(c["action"], c["sku"]) for c in mail.data["changes"]}
    assert changes == {("added", "MUG-TURING"), ("added", "POSTER-BABBAGE")}
