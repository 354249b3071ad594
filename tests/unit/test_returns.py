"""Returns and exchanges of Ada's order: the authorisation, the verification table on
receipt, the shipping policy, and exchanges that net into one settlement.

Ada's order: two mugs at 12.30 (19 % VAT), the Analytical Engine at 24.99 (7 %), standard
delivery 4.95 (19 %): 61.90, all captured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts.fulfillment import Delivered, FulfillmentChanged
from contracts.orders import BalanceDue, CreditMemoIssued, RefundRequested
from contracts.returns import (
    CancelReturn,
    CreateReturn,
    DecideReturn,
    ExchangeCreated,
    ExpireReturn,
    ReturnAuthorized,
    ReturnCancelled,
    ReturnDecided,
    ReturnExpired,
    ReturnReceived,
    ReturnReceivedEvent,
)
from services.context import Change
from services.errors import (
    AlreadyExists,
    Forbidden,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
    Rejected,
)
from services.ledger import CreditMemo
from services.orders import fulfillment
from services.orders.return_handlers import (
    cancel_return,
    create_return,
    decide_return,
    expire_return,
    return_received,
)
from services.orders.returns import markdown
from services.orders.settlement import payment_state
from services.policy import Policy
from services.registry import authorize as authorize_role

from .builders import Helpdesk, ship
from .fakes import NOW, FakeReference


def delivered(at: datetime = NOW, **units: int) -> Helpdesk:
    """Ada's order with the units shipped (all by default) and delivered at `at`."""
    desk = Helpdesk()
    desk.place_ada()
    ship(desk, "shp_1", **(units or {"l1": 2, "l2": 1}))
    desk.send(
        fulfillment.delivered, Delivered, role="system", order_id="ord_ada_1",
        shipment_id="shp_1", delivered_at=at.isoformat(),
    )  # fmt: skip
    return desk


def ask(desk: Helpdesk, *lines: tuple[str, int, str], **data: Any) -> Change:
    """Grace authorises a return of (line, quantity, reason)."""
    return desk.send(
        create_return,
        CreateReturn,
        **{
            "order_id": "ord_ada_1",
            "return_id": "rma_1",
            "method": "drop_off",
            "lines": [{"line_id": lid, "quantity": n, "reason": why} for lid, n, why in lines],
            **data,
        },
    )


def arrive(desk: Helpdesk, *units: tuple[str, str, str, int], **data: Any) -> Change:
    """The Leipzig warehouse reports (line, sku, condition, quantity) of the parcel."""
    by_line: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for lid, sku, condition, n in units:
        by_line.setdefault((lid, sku), []).append({"condition": condition, "quantity": n})
    return desk.send(
        return_received,
        ReturnReceived,
        role="system",
        **{
            "order_id": "ord_ada_1",
            "return_id": "rma_1",
            "warehouse": "wh_leipzig",
            "lines": [
                {"line_id": lid, "sku": sku, "units": u} for (lid, sku), u in by_line.items()
            ],
            **data,
        },
    )


def refused(desk: Helpdesk, send: Any, *args: Any, **data: Any) -> Rejected:
    stored = desk.order()
    documents = (len(desk.uow.ledger.invoices), len(desk.uow.ledger.credit_memos))
    with pytest.raises(Rejected) as caught:
        send(desk, *args, **data)
    assert desk.order() is stored
    assert (len(desk.uow.ledger.invoices), len(desk.uow.ledger.credit_memos)) == documents
    return caught.value


def memos(change: Change) -> list[CreditMemo]:
    return [m for m in (e for e in change.events if isinstance(e, CreditMemoIssued))]  # type: ignore[misc]


def memo_lines(change: Change) -> list[tuple[str, str, str]]:
    [issued] = [e for e in change.events if isinstance(e, CreditMemoIssued)]
    return [(x.reason, str(x.net), str(x.tax)) for x in issued.credit_memo.lines]


def assert_money_adds_up(desk: Helpdesk) -> None:
    """SPEC: captured - refunded - total = credit owed - balance due; invoices - memos = total."""
    order = desk.order()
    total = order.priced().total
    state = payment_state(total, order.payment)
    p = order.payment
    assert p.captured - p.refunded - total == state.credit_owed - state.balance_due
    invoiced = sum(i.total for i, _ in desk.uow.ledger.invoices)
    credited = sum(m.total for m, _ in desk.uow.ledger.credit_memos)
    assert invoiced - credited == total
    assert all(i.credited <= i.total for i in order.invoices)


# --- authorising -----------------------------------------------------------------------------


def test_a_return_is_authorised_for_shipped_units_with_a_reason_per_line() -> None:
    desk = delivered()

    change = ask(desk, ("l1", 1, "changed_mind"))

    [event] = change.events
    assert isinstance(event, ReturnAuthorized)
    rma = event.rma
    assert (rma.return_id, rma.status, rma.method, rma.exchange) == (
        "rma_1", "authorized", "drop_off", False,
    )  # fmt: skip
    assert [(x.line_id, x.quantity, x.reason) for x in rma.lines] == [("l1", 1, "changed_mind")]
    assert rma.return_by == NOW + timedelta(days=30)
    assert event.settlement.direction == "none"
    assert desk.uow.deadlines.due == {("return", "ord_ada_1/rma_1"): ("ord_ada_1", rma.return_by)}
    assert change.audit[0].after is not None
    assert change.audit[0].after["returns"] == {"rma_1": "authorized"}


def test_unshipped_units_cannot_be_returned() -> None:
    desk = Helpdesk()
    desk.place_ada()

    rejection = refused(desk, ask, ("l1", 1, "changed_mind"))

    assert isinstance(rejection, NotAllowedInState)
    assert rejection.message.startswith("return units refused: line l1 (MUG-ADA) is open")


def test_return_quantity_never_exceeds_shipped_minus_returned_or_pending() -> None:
    desk = delivered(l1=2)
    ask(desk, ("l1", 1, "changed_mind"))

    rejection = refused(desk, ask, ("l1", 2, "changed_mind"), return_id="rma_2")

    assert isinstance(rejection, OverLimit)
    assert rejection.details == {"field": "data.lines.0.quantity", "limit": 1}
    assert "1 unit(s) that can be returned (2 shipped, 1 returned or pending)" in rejection.message
    arrive(desk, ("l1", "MUG-ADA", "resellable", 1))
    again = refused(desk, ask, ("l1", 2, "changed_mind"), return_id="rma_2")
    assert isinstance(again, OverLimit) and again.details["limit"] == 1


def test_the_return_window_closes_30_days_after_delivery() -> None:
    desk = delivered(at=NOW)

    rejection = refused(
        desk, ask, ("l1", 1, "changed_mind"), now=NOW + timedelta(days=30, minutes=1)
    )

    assert isinstance(rejection, NotAllowedInState)
    assert "its 30-day return window closed on 2026-12-26" in rejection.message
    assert ask(desk, ("l1", 1, "changed_mind"), now=NOW + timedelta(days=30)).events


def test_the_return_window_is_configurable() -> None:
    desk = delivered(at=NOW)

    rejection = refused(
        desk, ask, ("l1", 1, "changed_mind"), now=NOW + timedelta(days=15),
        policy=Policy(return_window_days=14),
    )  # fmt: skip

    assert "its 14-day return window closed on 2026-12-10" in rejection.message


def test_a_parcel_never_scanned_as_delivered_opens_the_window_a_transit_allowance_after_shipping() -> (
    None
):
    """Issue 13: a line shipped without a delivery scan had no window at all (returnable for
    ever). Its window counts from the shipment date plus the transit allowance (7 days)."""
    desk = Helpdesk()
    desk.place_ada()
    ship(desk, "shp_1", l1=2, l2=1)
    closes = NOW + timedelta(days=7 + 30)

    rejection = refused(
        desk, ask, ("l1", 1, "changed_mind"), now=closes + timedelta(minutes=1)
    )  # fmt: skip
    shorter = refused(
        desk, ask, ("l1", 1, "changed_mind"), now=NOW + timedelta(days=33),
        policy=Policy(return_transit_days=2),
    )  # fmt: skip

    assert isinstance(rejection, NotAllowedInState)
    assert rejection.message.startswith(
        "line l1 (MUG-ADA) shipped without a delivery scan, taken as delivered on 2026-12-03 "
        "(7 days after shipping): its 30-day return window closed on 2027-01-02"
    )
    assert isinstance(shorter, NotAllowedInState)
    assert ask(desk, ("l1", 1, "changed_mind"), now=closes).events


def test_a_late_delivery_scan_replaces_the_assumed_delivery_date() -> None:
    desk = delivered(at=NOW + timedelta(days=20))

    assert ask(desk, ("l1", 1, "changed_mind"), now=NOW + timedelta(days=50)).events


def test_a_manager_may_override_the_return_window_with_a_reason() -> None:
    late = NOW + timedelta(days=45)
    desk = delivered(at=NOW)

    by_agent = refused(
        desk, ask, ("l1", 1, "defective"), now=late, override_window=True, reason="goodwill"
    )
    without_reason = refused(
        desk, ask, ("l1", 1, "defective"), now=late, override_window=True, role="manager"
    )
    change = ask(
        desk, ("l1", 1, "defective"), now=late, override_window=True, role="manager",
        reason="goodwill", note="loyal customer, mug cracked in the dishwasher on day 40",
    )  # fmt: skip

    assert isinstance(by_agent, Forbidden)
    assert isinstance(without_reason, Invalid)
    assert isinstance(change.events[0], ReturnAuthorized)
    assert change.events[0].rma.window_override is True


def test_an_unknown_return_reason_is_invalid() -> None:
    rejection = refused(delivered(), ask, ("l1", 1, "bored"))

    assert isinstance(rejection, Invalid)
    assert rejection.details == {"field": "data.lines.0.reason"}
    assert "'bored' is not one of damaged, defective" in rejection.message


def test_a_return_id_is_used_once_per_order() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))

    assert isinstance(refused(desk, ask, ("l2", 1, "changed_mind")), AlreadyExists)


# --- receiving and verifying -----------------------------------------------------------------


def test_resellable_units_are_refunded_in_full_on_receipt() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"))

    change = arrive(desk, ("l1", "MUG-ADA", "resellable", 2))

    event = change.events[0]
    assert isinstance(event, ReturnReceivedEvent)
    assert event.rma.status == "received"
    assert event.rma.lines[0].refunded == 2
    assert memo_lines(change) == [("return", "24.60", "4.67")]
    [refund] = [e for e in change.events if isinstance(e, RefundRequested)]
    assert refund.refund.amount == Decimal("29.27")
    assert desk.order().line("l1").returned == 2
    assert desk.order().priced().shipping == Decimal("4.95")
    assert desk.uow.deadlines.due == {}
    assert_money_adds_up(desk)


def test_damaged_in_transit_units_are_refunded_in_full() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "damaged"))

    change = arrive(desk, ("l1", "MUG-ADA", "damaged_in_transit", 1))

    assert memo_lines(change) == [("return", "12.30", "2.33")]


def test_units_damaged_by_the_customer_are_refunded_less_the_restocking_fee() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"))

    change = arrive(
        desk, ("l1", "MUG-ADA", "resellable", 1), ("l1", "MUG-ADA", "damaged_by_customer", 1)
    )

    # One memo: both mugs credited, less 20 % of one mug's 12.30, taxed like it.
    assert memo_lines(change) == [("return", "24.60", "4.67"), ("restocking_fee", "-2.46", "-0.47")]
    assert len(memos(change)) == 1
    assert change.events[0].rma.lines[0].restocking_fee == 1  # type: ignore[attr-defined]
    assert not desk.uow.ledger.invoices[1:]
    assert_money_adds_up(desk)


def test_a_wrong_item_waits_for_a_managers_decision_and_refunds_nothing_until_then() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))

    change = arrive(desk, ("l1", "MUG-ADA", "wrong_item", 1))

    rma = change.events[0].rma  # type: ignore[attr-defined]
    assert rma.status == "awaiting_decision"
    assert [(x.condition, x.quantity) for x in rma.lines[0].awaiting_decision] == [
        ("wrong_item", 1)
    ]
    assert change.events[0].settlement.direction == "none"  # type: ignore[attr-defined]
    with pytest.raises(Forbidden):
        authorize_role(DecideReturn.TYPE, change_actor("supervisor"))

    decided = desk.send(
        decide_return, DecideReturn, role="manager", order_id="ord_ada_1", return_id="rma_1",
        decisions=[{"line_id": "l1", "condition": "wrong_item", "outcome": "full"}],
    )  # fmt: skip

    assert isinstance(decided.events[0], ReturnDecided)
    assert decided.events[0].rma.status == "received"
    assert memo_lines(decided) == [("return", "12.30", "2.33")]
    assert_money_adds_up(desk)


def change_actor(role: str) -> Any:
    from contracts.common import Actor

    return Actor.model_validate({"id": "sup-1", "role": role})


def test_a_decision_on_units_not_awaiting_one_is_over_limit() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))
    arrive(desk, ("l1", "MUG-ADA", "wrong_item", 1))

    rejection = refused(
        desk, lambda d, **kw: d.send(decide_return, DecideReturn, role="manager", **kw),
        order_id="ord_ada_1", return_id="rma_1",
        decisions=[{"line_id": "l1", "condition": "wrong_item", "outcome": "none", "quantity": 2}],
    )  # fmt: skip

    assert isinstance(rejection, OverLimit)
    assert rejection.details == {"field": "data.decisions.0.quantity", "limit": 1}


def test_units_a_parcel_lacks_may_come_in_a_second_parcel_each_refunding_what_it_brought() -> None:
    """Issue 13: one receipt closed the return; the second parcel was refused."""
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"))

    first = arrive(desk, ("l1", "MUG-ADA", "resellable", 1), ("l1", "MUG-ADA", "missing", 1))

    rma = first.events[0].rma  # type: ignore[attr-defined]
    assert (rma.status, rma.lines[0].refunded, rma.lines[0].missing) == ("partially_received", 1, 0)
    assert memo_lines(first) == [("return", "12.30", "2.33")]
    assert ("return", "ord_ada_1/rma_1") in desk.uow.deadlines.due  # still expected
    # The unit still to come is pending: it cannot be asked back a second time.
    assert isinstance(refused(desk, ask, ("l1", 1, "changed_mind"), return_id="rma_2"), OverLimit)

    second = arrive(desk, ("l1", "MUG-ADA", "resellable", 2))  # one more than is left

    rma = second.events[0].rma  # type: ignore[attr-defined]
    assert (rma.status, rma.lines[0].refunded, rma.lines[0].missing) == ("received", 2, 0)
    assert [(x.quantity, x.why) for x in rma.exceptions] == [
        (1, "more units of line l1 than the 2 authorised")
    ]
    assert memo_lines(second) == [("return", "12.30", "2.34")]
    assert desk.order().payment.refunded == Decimal("29.27")  # each mug refunded once
    assert ("return", "ord_ada_1/rma_1") not in desk.uow.deadlines.due
    assert refused(desk, arrive, ("l1", "MUG-ADA", "resellable", 1)).details["status"] == "received"
    assert_money_adds_up(desk)


def test_units_no_parcel_brought_are_missing_once_the_return_expires() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"))
    arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    change = desk.send(
        expire_return, ExpireReturn, role="system", order_id="ord_ada_1", return_id="rma_1",
        now=NOW + timedelta(days=30),
    )  # fmt: skip

    [expired] = [e for e in change.events if isinstance(e, ReturnExpired)]
    assert (expired.rma.status, expired.rma.lines[0].refunded) == ("received", 1)
    assert expired.rma.lines[0].missing == 1
    assert expired.settlement.direction == "none"
    assert isinstance(refused(desk, arrive, ("l1", "MUG-ADA", "resellable", 1)), NotAllowedInState)
    assert_money_adds_up(desk)


def test_units_beyond_those_authorised_are_kept_as_exceptions_never_refunded() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))

    change = arrive(
        desk,
        ("l1", "MUG-ADA", "resellable", 2),
        ("l2", "BOOK-ENGINE", "resellable", 1),
        ("l1", "MUG-TURING", "resellable", 1),
    )

    rma = change.events[0].rma  # type: ignore[attr-defined]
    assert [(x.line_id, x.sku, x.quantity, x.why) for x in rma.exceptions] == [
        ("l1", "MUG-ADA", 1, "more units of line l1 than the 1 authorised"),
        ("l2", "BOOK-ENGINE", 1, "line l2 is not in return rma_1"),
        ("l1", "MUG-TURING", 1, "SKU MUG-TURING arrived for line l1, which is MUG-ADA"),
    ]
    assert memo_lines(change) == [("return", "12.30", "2.33")]
    assert desk.order().line("l2").returned == 0


def test_a_return_is_received_once() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))
    arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    rejection = refused(desk, arrive, ("l1", "MUG-ADA", "resellable", 1))

    assert isinstance(rejection, NotAllowedInState)
    assert rejection.details["status"] == "received"


def test_an_unknown_return_is_not_found() -> None:
    rejection = refused(delivered(), arrive, ("l1", "MUG-ADA", "resellable", 1))

    assert isinstance(rejection, NotFound)
    assert rejection.message == "order ord_ada_1 has no return rma_1"


# --- return shipping policy ---------------------------------------------------------------


def test_a_prepaid_label_is_deducted_when_the_return_is_the_customers_choice() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"), method="carrier_label")

    change = arrive(desk, ("l1", "MUG-ADA", "resellable", 2))

    assert memo_lines(change) == [
        ("return", "24.60", "4.67"),
        ("return_shipping", "-4.95", "-0.94"),
    ]
    assert_money_adds_up(desk)


def test_a_prepaid_label_is_free_when_it_is_the_merchants_fault() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "defective"), method="carrier_label")

    change = arrive(desk, ("l1", "MUG-ADA", "resellable", 2))

    assert memo_lines(change) == [("return", "24.60", "4.67")]


def test_original_shipping_is_refunded_when_everything_comes_back_for_the_merchants_fault() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "defective"), ("l2", 1, "not_as_described"))

    change = arrive(
        desk, ("l1", "MUG-ADA", "resellable", 2), ("l2", "BOOK-ENGINE", "resellable", 1)
    )

    assert ("original_shipping", "4.95", "0.94") in memo_lines(change)
    assert desk.order().priced().total == 0
    assert desk.order().payment.refunded == Decimal("61.90")
    assert_money_adds_up(desk)


def test_original_shipping_stays_when_everything_comes_back_by_the_customers_choice() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"), ("l2", 1, "no_longer_needed"))

    arrive(desk, ("l1", "MUG-ADA", "resellable", 2), ("l2", "BOOK-ENGINE", "resellable", 1))

    assert desk.order().priced().total == Decimal("5.89")


# --- cancelling and expiring -----------------------------------------------------------------


def test_a_return_can_be_cancelled_while_nothing_is_received() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))

    change = desk.send(cancel_return, CancelReturn, order_id="ord_ada_1", return_id="rma_1")

    assert isinstance(change.events[0], ReturnCancelled)
    assert change.events[0].rma.status == "cancelled"
    assert desk.uow.deadlines.due == {}
    assert ask(desk, ("l1", 2, "changed_mind"), return_id="rma_2").events


def test_a_received_return_cannot_be_cancelled() -> None:
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"))
    arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    rejection = refused(
        desk, lambda d, **kw: d.send(cancel_return, CancelReturn, **kw),
        order_id="ord_ada_1", return_id="rma_1",
    )  # fmt: skip

    assert isinstance(rejection, NotAllowedInState)
    assert "only a return nothing of which has arrived can be cancelled" in rejection.message


# --- exchanges -------------------------------------------------------------------------------


def exchange(desk: Helpdesk, sku: str, reason: str = "wrong_size", **data: Any) -> Change:
    return ask(desk, ("l1", 1, reason), replacements=[{"line_id": "l1", "sku": sku}], **data)


def test_an_exchange_for_a_dearer_size_nets_into_one_balance_due() -> None:
    desk = delivered()

    change = exchange(desk, "MUG-ADA-XL")

    types = [type(e).__name__ for e in change.events]
    assert types[:2] == ["ReturnAuthorized", "ExchangeCreated"]
    created = change.events[1]
    assert isinstance(created, ExchangeCreated)
    assert [(x.line_id, x.sku, x.quantity, x.exchange_for, x.hold) for x in created.replacements] == [
        ("l3", "MUG-ADA-XL", 1, "rma_1", False)
    ]  # fmt: skip
    assert created.rma.advance is True
    # 14.90 + 2.83 VAT for the XL mug, less 12.30 + 2.34 for the mug coming back.
    [due] = [e for e in change.events if isinstance(e, BalanceDue)]
    assert due.balance_due == Decimal("3.10")
    assert not [e for e in change.events if isinstance(e, CreditMemoIssued)]
    assert (desk.uow.ledger.invoices[-1][0].net, desk.uow.ledger.invoices[-1][0].tax) == (
        Decimal("2.60"), Decimal("0.50"),
    )  # fmt: skip
    assert_money_adds_up(desk)


def test_an_exchange_for_a_cheaper_item_nets_into_one_credit_memo() -> None:
    desk = delivered()

    change = exchange(desk, "MUG-TURING")

    assert memo_lines(change) == [("exchange_return", "2.40", "0.45")]
    assert not [e for e in change.events if isinstance(e, BalanceDue)]
    assert_money_adds_up(desk)


def test_a_cheaper_exchange_pays_the_difference_out_only_when_the_returned_unit_arrives() -> None:
    """Issue 13: the 2.85 difference was refunded before the mug came back."""
    desk = delivered()

    created = exchange(desk, "MUG-TURING")

    [issued] = [e.credit_memo for e in created.events if isinstance(e, CreditMemoIssued)]
    assert not [e for e in created.events if isinstance(e, RefundRequested)]
    state = desk.order().payment_state()
    assert (state.refunded, state.credit_owed) == (Decimal(0), Decimal("2.85"))
    assert created.events[0].settlement.refund_due == 0  # type: ignore[attr-defined]
    assert_money_adds_up(desk)
    ship(desk, "shp_2", l3=1)
    assert desk.order().payment.refunded == 0

    back = arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    [paid] = [e.refund for e in back.events if isinstance(e, RefundRequested)]
    assert (paid.amount, paid.credit_memo_id) == (
        Decimal("2.85"),
        issued.credit_memo_id,
    )
    state = desk.order().payment_state()
    assert (state.refunded, state.credit_owed, state.balance_due) == (
        Decimal("2.85"), Decimal(0), Decimal(0),
    )  # fmt: skip
    assert desk.order().returns[0].held_refunds == []
    assert_money_adds_up(desk)


def test_a_cheaper_exchanges_held_difference_pays_a_restocking_fee_first() -> None:
    desk = delivered()
    exchange(desk, "MUG-TURING", settle_to="store_credit")

    back = arrive(desk, ("l1", "MUG-ADA", "damaged_by_customer", 1))

    # The 2.46 + 0.47 fee is more than the 2.85 held: nothing is paid, 0.08 is owed.
    assert not [e for e in back.events if isinstance(e, RefundRequested)]
    assert desk.order().payment_state().balance_due == Decimal("0.08")
    assert desk.order().payment.refunded == 0
    assert_money_adds_up(desk)


def test_an_after_receipt_exchange_holds_the_replacement_until_the_return_arrives() -> None:
    desk = delivered()
    created = exchange(desk, "MUG-ADA-XL", reason="changed_mind")
    assert desk.order().line("l3").hold is True
    [told] = [e for e in created.events if isinstance(e, FulfillmentChanged)]
    assert [(x.line_id, x.to_ship, x.hold) for x in told.lines] == [("l3", 1, True)]

    with pytest.raises(NotAllowedInState, match="it ships once that return has arrived"):
        ship(desk, "shp_2", l3=1)
    change = arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    assert desk.order().line("l3").hold is False
    [released] = [e for e in change.events if isinstance(e, FulfillmentChanged)]
    assert [(x.line_id, x.to_ship, x.hold) for x in released.lines] == [("l3", 1, False)]
    ship(desk, "shp_2", l3=1)
    assert desk.order().line("l3").shipped == 1


def test_an_advance_exchange_whose_return_never_arrives_charges_the_balance() -> None:
    desk = delivered()
    exchange(desk, "MUG-ADA-XL")
    ship(desk, "shp_2", l3=1)
    due = NOW + timedelta(days=30)

    early = refused(
        desk, lambda d, **kw: d.send(expire_return, ExpireReturn, role="system", **kw),
        order_id="ord_ada_1", return_id="rma_1", now=due - timedelta(minutes=1),
    )  # fmt: skip
    change = desk.send(
        expire_return, ExpireReturn, role="system", order_id="ord_ada_1", return_id="rma_1",
        now=due,
    )  # fmt: skip

    assert isinstance(early, NotAllowedInState)
    assert isinstance(change.events[0], ReturnExpired)
    [owed] = [e for e in change.events if isinstance(e, BalanceDue)]
    # The mug comes back onto the charge: line l1's VAT on two mugs is 4.67, on one 2.34.
    assert owed.balance_due == Decimal("3.10") + Decimal("12.30") + Decimal("2.33")
    assert desk.order().line("l1").returned == 0
    assert desk.order().line("l3").quantity == 1  # shipped already: kept, and paid for
    assert_money_adds_up(desk)


def test_an_exchanged_unit_damaged_by_the_customer_is_charged_its_restocking_fee() -> None:
    desk = delivered()
    exchange(desk, "MUG-ADA-XL")

    change = arrive(desk, ("l1", "MUG-ADA", "damaged_by_customer", 1))

    [owed] = [e for e in change.events if isinstance(e, BalanceDue)]
    assert owed.balance_due == Decimal("3.10") + Decimal("2.46") + Decimal("0.47")
    assert_money_adds_up(desk)


def test_an_exchanged_unit_that_does_not_arrive_is_charged_again() -> None:
    desk = delivered()
    exchange(desk, "MUG-TURING")
    ship(desk, "shp_2", l3=1)

    empty = arrive(desk)  # an empty parcel: the mug may still come
    change = desk.send(
        expire_return, ExpireReturn, role="system", order_id="ord_ada_1", return_id="rma_1",
        now=NOW + timedelta(days=30),
    )  # fmt: skip

    assert empty.events[0].rma.status == "authorized"  # type: ignore[attr-defined]
    assert not [e for e in empty.events if isinstance(e, BalanceDue)]
    [owed] = [e for e in change.events if isinstance(e, BalanceDue)]
    # The mug again, less the 2.85 difference the cheaper mug left owed and never paid out.
    assert owed.balance_due == Decimal("12.30") + Decimal("2.33") - Decimal("2.85")
    assert_money_adds_up(desk)


def test_a_wrong_item_in_an_exchange_stays_credited_until_a_manager_decides() -> None:
    desk = delivered()
    exchange(desk, "MUG-TURING")
    refunded = desk.order().payment.refunded

    arrive(desk, ("l1", "MUG-ADA", "wrong_item", 1))
    decided = desk.send(
        decide_return, DecideReturn, role="manager", order_id="ord_ada_1", return_id="rma_1",
        decisions=[{"line_id": "l1", "condition": "wrong_item", "outcome": "none"}],
    )  # fmt: skip

    assert desk.order().payment.refunded == refunded == 0
    [owed] = [e for e in decided.events if isinstance(e, BalanceDue)]
    assert owed.balance_due == Decimal("14.63") - Decimal("2.85")  # the held difference
    assert_money_adds_up(desk)


def test_cancelling_an_exchange_cancels_the_unshipped_replacement_and_charges_nothing_more() -> (
    None
):
    desk = delivered()
    exchange(desk, "MUG-ADA-XL", reason="changed_mind")

    change = desk.send(cancel_return, CancelReturn, order_id="ord_ada_1", return_id="rma_1")

    assert desk.order().line("l3").quantity == 0
    assert desk.order().line("l1").returned == 0
    assert desk.order().priced().total == Decimal("61.90")
    assert change.events[0].settlement.direction == "decrease"  # type: ignore[attr-defined]
    assert_money_adds_up(desk)


def test_a_replacement_must_be_for_a_returned_line() -> None:
    rejection = refused(
        delivered(), ask, ("l1", 1, "wrong_size"),
        replacements=[{"line_id": "l2", "sku": "MUG-ADA-XL"}],
    )  # fmt: skip

    assert isinstance(rejection, Invalid)
    assert rejection.details == {"field": "data.replacements.0.line_id"}


def test_the_readme_shows_the_return_rules_the_code_reads() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("<!-- return-rules:begin -->\n")[1].split("<!-- return-rules:end -->")[0]

    assert shown == markdown()


# --- found in review -------------------------------------------------------------------------


def test_an_outstanding_exchanges_replacement_cannot_be_removed_cut_or_cancelled() -> None:
    from contracts.orders import AmendOrder, CancelOrder
    from services.orders.handlers import amend_order, cancel_order

    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"), replacements=[{"line_id": "l1", "sku": "MUG-ADA"}])

    def amend(d: Helpdesk, **change: Any) -> Change:
        return d.send(amend_order, AmendOrder, order_id="ord_ada_1", reason="customer_request",
                      changes=[change])  # fmt: skip

    for attempt in (
        lambda d: amend(d, action="remove", line_id="l3"),
        lambda d: amend(d, action="set_quantity", line_id="l3", quantity=1),
        lambda d: amend(d, action="replace", line_id="l3", sku="MUG-TURING"),
        lambda d: d.send(
            cancel_order,
            CancelOrder,
            order_id="ord_ada_1",
            reason="customer_request",
            scope="unshipped",
        ),
    ):
        rejection = refused(desk, attempt)
        assert isinstance(rejection, NotAllowedInState)
        assert "replaces units of return rma_1, which has not arrived" in rejection.message
    assert desk.order().payment.refunded == 0


def test_returned_units_beyond_the_replacements_are_credited_only_on_receipt() -> None:
    desk = delivered()

    ask(desk, ("l1", 2, "changed_mind"),
        replacements=[{"line_id": "l1", "sku": "MUG-ADA", "quantity": 1}])  # fmt: skip

    assert desk.order().payment.refunded == 0
    assert desk.order().returns[0].lines[0].credited_in_advance == 1
    change = arrive(desk, ("l1", "MUG-ADA", "resellable", 2))
    assert memo_lines(change) == [("exchange_return", "12.30", "2.34")]
    assert_money_adds_up(desk)


def test_a_label_is_not_deducted_from_a_refund_smaller_than_it() -> None:
    desk = Helpdesk()
    desk.place_ada(
        lines=[{"sku": "MUG-ADA", "quantity": 2}, {"sku": "BOOK-ENGINE", "quantity": 1},
               {"sku": "POSTER-BABBAGE", "quantity": 1}],
        payment={"authorized": "67.85", "captured": "67.85"},
    )  # fmt: skip
    ship(desk, "shp_1", l1=2, l2=1, l3=1)
    ask(desk, ("l3", 1, "changed_mind"), method="carrier_label")

    # 5.00 less a 1.00 restocking fee, with VAT: 4.76, less than the 5.89 label.
    change = arrive(desk, ("l3", "POSTER-BABBAGE", "damaged_by_customer", 1))

    assert memo_lines(change) == [("return", "5.00", "0.95"), ("restocking_fee", "-1.00", "-0.19")]
    assert desk.order().payment_state().balance_due == 0


def test_an_exchange_across_tax_rates_is_one_invoice_billing_the_net_less_the_tax() -> None:
    desk = delivered()

    # A 12.30 mug at 19 % for the 24.99 book at 7 %: more net, less tax.
    change = exchange(desk, "BOOK-ENGINE")

    invoice = desk.uow.ledger.invoices[-1][0]
    assert (invoice.net, invoice.tax) == (Decimal("12.69"), Decimal("-0.58"))
    assert [(x.reason, x.line_id, x.net, x.tax) for x in invoice.lines] == [
        ("exchange_replacement", "l1", Decimal("12.69"), Decimal("-0.58"))
    ]
    assert not any(isinstance(e, CreditMemoIssued) for e in change.events)
    assert_money_adds_up(desk)


def test_a_discount_granted_on_a_line_never_grows_when_units_come_back() -> None:
    from contracts.appeasements import OfferAppeasement
    from services.appeasements.handlers import offer_appeasement

    desk = delivered()
    exchange(desk, "MUG-ADA-XL")
    desk.send(
        offer_appeasement, OfferAppeasement, role="manager", kind="discount",
        order_id="ord_ada_1", line_id="l1", amount="12.30", reason="late_delivery",
    )  # fmt: skip

    desk.send(cancel_return, CancelReturn, order_id="ord_ada_1", return_id="rma_1")

    assert desk.order().priced().line("l1").discount == Decimal("12.30")
    assert_money_adds_up(desk)


# --- issue 13, point 6 -----------------------------------------------------------------------


def short_pick(desk: Helpdesk, line_id: str, sku: str, quantity: int) -> Change:
    from contracts.fulfillment import ShortPicked

    return desk.send(
        fulfillment.short_picked, ShortPicked, role="system", order_id="ord_ada_1",
        line_id=line_id, sku=sku, quantity=quantity, warehouse="wh_leipzig",
    )  # fmt: skip


def test_a_short_picked_advance_replacement_takes_the_advance_credit_back() -> None:
    """The customer keeps the mug and has the XL mug cancelled: the mug credited in advance
    is charged again in the same change, and refunded only when it comes back."""
    desk = delivered()
    exchange(desk, "MUG-ADA-XL")  # 3.10 balance due

    change = short_pick(desk, "l3", "MUG-ADA-XL", 1)

    order = desk.order()
    assert order.line("l3").quantity == 0
    assert order.line("l1").returned == 0
    assert order.returns[0].lines[0].advance_left == 0
    assert order.priced().total == Decimal("61.90")
    assert order.payment.refunded == 0
    assert order.payment_state().balance_due == 0
    assert not [e for e in change.events if isinstance(e, RefundRequested)]
    assert_money_adds_up(desk)

    back = arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    assert [(r.amount, r.method) for r in (e.refund for e in back.events
            if isinstance(e, RefundRequested))] == [(Decimal("14.63"), "original_payment")]  # fmt: skip
    assert_money_adds_up(desk)


def test_a_short_picked_advance_replacement_whose_return_never_comes_charges_nothing() -> None:
    desk = delivered()
    exchange(desk, "MUG-ADA-XL")
    short_pick(desk, "l3", "MUG-ADA-XL", 1)

    change = desk.send(
        expire_return, ExpireReturn, role="system", order_id="ord_ada_1", return_id="rma_1",
        now=NOW + timedelta(days=30),
    )  # fmt: skip

    assert change.events[0].settlement.direction == "none"  # type: ignore[attr-defined]
    assert desk.order().priced().total == Decimal("61.90")
    assert_money_adds_up(desk)


def test_an_after_receipt_replacement_ships_once_every_unit_it_replaces_has_come() -> None:
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"), replacements=[{"line_id": "l1", "sku": "MUG-TURING"}])

    arrive(desk, ("l1", "MUG-ADA", "resellable", 1))
    assert desk.order().line("l3").hold is True
    arrive(desk, ("l1", "MUG-ADA", "resellable", 1))

    assert desk.order().line("l3").hold is False
    assert desk.order().returns[0].status == "received"
    assert_money_adds_up(desk)


@pytest.mark.parametrize("tax_included", [False, True])
def test_two_restocking_fees_of_one_line_each_stay_a_line_of_the_netted_document(
    tax_included: bool,
) -> None:
    """Two mugs exchanged for the same size and a poster returned; the parcel reports each
    mug's damage as its own entry. Both fees (same description) and the poster's credit net
    into one invoice, and the books still add up."""
    desk = Helpdesk(FakeReference(tax_included=frozenset({"EUR"}) if tax_included else frozenset()))
    paid = "39.75" if tax_included else "47.30"
    desk.place_ada(
        lines=[{"sku": "MUG-ADA-XL", "quantity": 2}, {"sku": "POSTER-BABBAGE", "quantity": 1}],
        payment={"authorized": paid, "captured": paid, "reference": "psp_1"},
    )
    ship(desk, l1=2, l2=1)
    desk.send(fulfillment.delivered, Delivered, role="system", order_id="ord_ada_1",
              shipment_id="shp_1")  # fmt: skip
    desk.send(create_return, CreateReturn, order_id="ord_ada_1", return_id="rma_1",
              method="drop_off", lines=[{"line_id": "l1", "quantity": 2, "reason": "wrong_size"},
                                        {"line_id": "l2", "quantity": 1, "reason": "changed_mind"}],
              replacements=[{"line_id": "l1", "sku": "MUG-ADA-XL"}])  # fmt: skip
    damaged = {"line_id": "l1", "sku": "MUG-ADA-XL",
               "units": [{"condition": "damaged_by_customer", "quantity": 1}]}  # fmt: skip

    desk.send(return_received, ReturnReceived, role="system", order_id="ord_ada_1",
              return_id="rma_1", warehouse="wh_leipzig",
              lines=[damaged, damaged, {"line_id": "l2", "sku": "POSTER-BABBAGE",
                                        "units": [{"condition": "resellable", "quantity": 1}]}])  # fmt: skip

    invoice = desk.uow.ledger.invoices[-1][0]
    fees = [x for x in invoice.lines if x.reason == "restocking_fee"]
    assert len(fees) == 2 and fees[0].description == fees[1].description
    assert invoice.total == sum((x.net + x.tax for x in invoice.lines), Decimal(0)) > 0
    assert_money_adds_up(desk)
