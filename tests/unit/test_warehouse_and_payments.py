"""What the warehouse and the payment service report about Ada's order: shipments,
deliveries, short picks and backorders; refunds settled or failed, captures."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.fulfillment import (
    Backordered,
    Delivered,
    FulfillmentChanged,
    LineBackordered,
    LineShortPicked,
    OrderDelivered,
    OrderShipped,
    Shipped,
    ShortPicked,
)
from contracts.orders import (
    AmendOrder,
    AuthorizationReduced,
    CancelOrder,
    CreditMemoIssued,
    PaymentCaptured,
    RefundFailed,
    RefundRequested,
    RefundSettled,
    RetryRefund,
)
from contracts.payments import Captured, RefundConfirmed, RefundDeclined
from services.context import Change, CommandHandler
from services.errors import AlreadyExists, Invalid, NotAllowedInState, NotFound, OverLimit, Rejected
from services.orders import fulfillment, payments
from services.orders.handlers import amend_order, cancel_order

from .builders import Helpdesk
from .fakes import NOW

#: When the reprint of the Analytical Engine reaches the warehouse.
REPRINT = date(2026, 12, 10)


def ada(**changes: Any) -> Helpdesk:
    desk = Helpdesk()
    desk.place_ada(**changes)
    return desk


def report(desk: Helpdesk, handler: CommandHandler, message: Any, **data: Any) -> Change:
    """A partner system (the warehouse, the payment service) reports on Ada's order."""
    return desk.send(handler, message, role="system", **{"order_id": "ord_ada_1", **data})


def ship(desk: Helpdesk, shipment_id: str = "shp_1", **units: int) -> Change:
    return report(
        desk,
        fulfillment.shipped,
        Shipped,
        shipment_id=shipment_id,
        lines=[{"line_id": line_id, "quantity": n} for line_id, n in units.items()],
        carrier="DHL",
        tracking_number="JJD000390007",
        warehouse="wh_leipzig",
    )


def deliver(desk: Helpdesk, shipment_id: str = "shp_1", **data: Any) -> Change:
    return report(desk, fulfillment.delivered, Delivered, shipment_id=shipment_id, **data)


def short(desk: Helpdesk, line_id: str = "l1", quantity: int = 1, **data: Any) -> Change:
    sku = {"l1": "MUG-ADA", "l2": "BOOK-ENGINE"}.get(line_id, "MUG-ADA")
    return report(
        desk,
        fulfillment.short_picked,
        ShortPicked,
        **{"line_id": line_id, "sku": sku, "quantity": quantity, "warehouse": "wh_leipzig", **data},
    )


def backorder(desk: Helpdesk, line_id: str = "l2", quantity: int = 1, **data: Any) -> Change:
    return report(
        desk,
        fulfillment.backordered,
        Backordered,
        **{"line_id": line_id, "quantity": quantity, "expected_date": REPRINT.isoformat(),
           "warehouse": "wh_leipzig", **data},
    )  # fmt: skip


def remove_the_book(desk: Helpdesk, **data: Any) -> Change:
    """An agent removes the book: 26.74 goes back as refund rf_1."""
    return desk.send(
        amend_order, AmendOrder, order_id="ord_ada_1", reason="customer_request",
        changes=[{"action": "remove", "line_id": "l2"}], **data,
    )  # fmt: skip


def refused(desk: Helpdesk, send: Any, *args: Any, **data: Any) -> Rejected:
    """The rejection of a partner message, checking it changed nothing."""
    ledger = desk.uow.ledger
    stored, refunds = desk.order(), list(ledger.refunds)
    documents = (len(ledger.invoices), len(ledger.credit_memos))
    with pytest.raises(Rejected) as caught:
        send(desk, *args, **data)
    assert desk.order() is stored
    assert ledger.refunds == refunds
    assert (len(ledger.invoices), len(ledger.credit_memos)) == documents
    return caught.value


# --- shipped and delivered ------------------------------------------------------------------


def test_a_shipment_moves_its_lines_and_the_order_to_partially_shipped_then_shipped() -> None:
    desk = ada()

    first = ship(desk, l1=1)

    [shipped] = first.events
    assert isinstance(shipped, OrderShipped)
    assert (shipped.status, shipped.version, first.version) == ("partially_shipped", 2, 2)
    assert [(x.line_id, x.sku, x.quantity) for x in shipped.shipment.lines] == [
        ("l1", "MUG-ADA", 1)
    ]
    assert (shipped.shipment.carrier, shipped.shipment.tracking_number) == ("DHL", "JJD000390007")
    assert [x.state for x in desk.order().lines] == ["partially_shipped", "open"]

    second = ship(desk, "shp_2", l1=1, l2=1)

    assert second.result == {"status": "shipped", "shipment_id": "shp_2"}
    assert [x.state for x in desk.order().lines] == ["shipped", "shipped"]
    assert (desk.order().status, desk.order().version) == ("shipped", 3)
    [audit] = second.audit
    assert audit.action == "warehouse.shipped"


def test_deliveries_move_the_lines_and_then_the_order_to_delivered() -> None:
    desk = ada()
    ship(desk, l1=2)
    ship(desk, "shp_2", l2=1)
    at = NOW + timedelta(days=2)

    first = deliver(desk, "shp_1", delivered_at=at.isoformat())

    [delivered] = first.events
    assert isinstance(delivered, OrderDelivered)
    assert (delivered.status, delivered.delivered_at, delivered.version) == ("shipped", at, 4)
    assert [(x.line_id, x.quantity) for x in delivered.lines] == [("l1", 2)]
    assert [x.state for x in desk.order().lines] == ["delivered", "shipped"]

    deliver(desk, "shp_2")

    assert desk.order().status == "delivered"
    assert [x.state for x in desk.order().lines] == ["delivered", "delivered"]
    assert desk.order().shipments[1].delivered_at == NOW


def test_shipping_more_units_than_are_left_is_over_limit() -> None:
    desk = ada()

    rejection = refused(desk, ship, l2=1, l1=3)

    assert isinstance(rejection, OverLimit)
    assert rejection.message == "line l1 (MUG-ADA) has 2 unit(s) left to ship; the shipment says 3"
    assert rejection.details == {"field": "data.lines.1.quantity", "limit": 2}


def test_a_shipment_of_an_unknown_line_is_not_found() -> None:
    rejection = refused(ada(), ship, l1=1, l9=1)

    assert isinstance(rejection, NotFound)
    assert rejection.message == "order ord_ada_1 has no line l9"
    assert rejection.details == {"field": "data.lines.1.line_id"}


def test_a_line_twice_in_one_shipment_is_invalid() -> None:
    desk = ada()

    rejection = refused(
        desk,
        report,
        fulfillment.shipped,
        Shipped,
        shipment_id="shp_1",
        lines=[{"line_id": "l1", "quantity": 1}, {"line_id": "l1", "quantity": 1}],
        carrier="DHL",
        tracking_number="JJD000390007",
        warehouse="wh_leipzig",
    )

    assert type(rejection) is Invalid
    assert rejection.message == "line l1 appears twice in the shipment"
    assert rejection.details == {"field": "data.lines.1.line_id"}


def test_the_same_shipment_twice_already_exists() -> None:
    desk = ada()
    ship(desk, l1=1)

    rejection = refused(desk, ship, l1=1)

    assert isinstance(rejection, AlreadyExists)
    assert rejection.message == "order ord_ada_1 already has shipment shp_1"
    assert rejection.details == {"field": "data.shipment_id"}


def test_a_cancelled_line_cannot_ship() -> None:
    desk = ada()
    remove_the_book(desk)

    rejection = refused(desk, ship, l2=1)

    assert rejection.code == "not_allowed_in_state"
    assert rejection.message == (
        "ship refused: line l2 (BOOK-ENGINE) is cancelled; only open units can ship"
    )


def test_a_shipment_for_an_unknown_order_is_not_found() -> None:
    desk = ada()

    with pytest.raises(NotFound) as caught:
        report(
            desk, fulfillment.shipped, Shipped, order_id="ord_ghost", shipment_id="shp_1",
            lines=[{"line_id": "l1", "quantity": 1}], carrier="DHL", tracking_number="JJD1",
            warehouse="wh_leipzig",
        )  # fmt: skip

    assert caught.value.details == {"field": "data.order_id"}


def test_delivering_an_unknown_shipment_is_not_found() -> None:
    rejection = refused(ada(), deliver, "shp_9")

    assert isinstance(rejection, NotFound)
    assert rejection.message == "order ord_ada_1 has no shipment shp_9"
    assert rejection.details == {"field": "data.shipment_id"}


def test_a_shipment_is_delivered_once() -> None:
    desk = ada()
    ship(desk, l1=1)
    deliver(desk)

    rejection = refused(desk, deliver)

    assert type(rejection) is NotAllowedInState
    assert rejection.message == "shipment shp_1 was delivered already (2026-11-26T09:30:00+00:00)"


# --- short picks -----------------------------------------------------------------------------


def test_a_short_pick_cancels_the_short_units_and_credits_and_refunds_them() -> None:
    desk = ada()

    change = short(desk, "l1", 1)

    picked, memo, refund, picking = change.events
    assert isinstance(picked, LineShortPicked)
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert isinstance(picking, FulfillmentChanged)
    assert (picked.line_id, picked.sku, picked.quantity_short, picked.quantity_left) == (
        "l1",
        "MUG-ADA",
        1,
        1,
    )
    assert (picked.why, picked.warehouse, picked.version) == ("short_picked", "wh_leipzig", 2)
    assert (str(picked.old_totals.total), str(picked.new_totals.total)) == ("61.90", "47.27")
    assert [(x.reason, x.line_id, str(x.net), str(x.tax)) for x in memo.credit_memo.lines] == [
        ("short_pick", "l1", "12.30", "2.33")
    ]
    assert (str(refund.refund.amount), refund.refund.credit_memo_id) == ("14.63", "cm_1")
    assert (picking.cause, [(x.line_id, x.to_ship) for x in picking.lines]) == (
        "warehouse.short_picked",
        [("l1", 1)],
    )
    line = desk.order().lines[0]
    assert (line.quantity, line.cancelled, line.state) == (1, 1, "open")


def test_a_short_pick_on_an_order_only_authorised_lowers_what_is_to_be_captured() -> None:
    desk = ada(payment={"authorized": "61.90", "captured": "0"})

    change = short(desk, "l1", 2)

    picked, _, reduced, _ = change.events
    assert isinstance(picked, LineShortPicked)
    assert isinstance(reduced, AuthorizationReduced)
    assert (str(reduced.released), str(reduced.to_capture)) == ("29.27", "32.63")
    assert picked.settlement.refunds == []
    assert desk.uow.ledger.refunds == []


def test_a_short_pick_larger_than_the_unshipped_units_is_over_limit() -> None:
    desk = ada()
    ship(desk, l1=1)

    rejection = refused(desk, short, "l1", 2)

    assert isinstance(rejection, OverLimit)
    assert (
        rejection.message == "line l1 (MUG-ADA) has 1 unshipped unit(s); 2 cannot be short picked"
    )
    assert rejection.details == {"field": "data.quantity", "limit": 1, "line_id": "l1"}


def test_a_short_pick_for_an_unknown_line_is_not_found() -> None:
    rejection = refused(ada(), short, "l9")

    assert isinstance(rejection, NotFound)
    assert rejection.message == "order ord_ada_1 has no line l9"
    assert rejection.details == {"field": "data.line_id"}


def test_a_short_pick_for_an_unknown_order_is_not_found() -> None:
    rejection = refused(ada(), short, "l1", order_id="ord_ghost")

    assert isinstance(rejection, NotFound)
    assert rejection.message == "order ord_ghost does not exist"


def test_a_short_pick_reporting_another_sku_than_the_line_holds_is_invalid() -> None:
    rejection = refused(ada(), short, "l1", sku="BOOK-ENGINE")

    assert type(rejection) is Invalid
    assert rejection.message == "the line holds SKU MUG-ADA, the warehouse reported BOOK-ENGINE"
    assert rejection.details == {"field": "data.sku"}


def test_a_shipped_line_cannot_be_short() -> None:
    desk = ada()
    ship(desk, l2=1)

    rejection = refused(desk, short, "l2")

    assert rejection.code == "not_allowed_in_state"
    assert rejection.message == (
        "short pick refused: line l2 (BOOK-ENGINE) is shipped: 1 of 1 unit(s) shipped; "
        "only units not yet shipped can be short"
    )
    assert (rejection.details["line_id"], rejection.details["shipped"]) == ("l2", 1)


def test_a_short_pick_tells_the_customer_only_the_unshipped_units_are_still_coming() -> None:
    # Given three mugs, one already delivered
    desk = ada()
    desk.send(
        amend_order, AmendOrder, order_id="ord_ada_1", reason="customer_request",
        changes=[{"action": "set_quantity", "line_id": "l1", "quantity": 3}],
    )  # fmt: skip
    ship(desk, l1=1)
    deliver(desk)

    # When the warehouse is one mug short
    change = short(desk, "l1", 1)

    # Then one mug is still coming (the delivered one has arrived)
    picked = change.events[0]
    assert isinstance(picked, LineShortPicked)
    assert picked.quantity_left == 1


# --- backorders ------------------------------------------------------------------------------


def test_a_backorder_of_a_backorderable_sku_keeps_the_units_with_the_expected_date() -> None:
    desk = ada()

    change = backorder(desk, "l2", 1)

    [waiting] = change.events
    assert isinstance(waiting, LineBackordered)
    assert waiting.model_dump() == {
        "order_id": "ord_ada_1",
        "account_id": "acc_ada",
        "version": 2,
        "line_id": "l2",
        "sku": "BOOK-ENGINE",
        "name": "The Analytical Engine",
        "quantity": 1,
        "expected_date": REPRINT,
        "warehouse": "wh_leipzig",
    }
    assert change.result == {"line_id": "l2", "backordered": 1}
    book = desk.order().lines[1]
    assert (book.quantity, book.backordered, book.expected_date, book.state) == (
        1,
        1,
        REPRINT,
        "open",
    )
    assert desk.order().priced().total == Decimal("61.90")
    assert desk.uow.ledger.credit_memos == []


def test_a_backorder_of_a_sku_that_cannot_wait_cancels_the_units_like_a_short_pick() -> None:
    desk = ada()

    change = backorder(desk, "l1", 1, sku="MUG-ADA")

    picked, memo, refund, _ = change.events
    assert isinstance(picked, LineShortPicked)
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert (picked.why, picked.quantity_short, picked.quantity_left) == ("not_backorderable", 1, 1)
    assert [(x.reason, str(x.net), str(x.tax)) for x in memo.credit_memo.lines] == [
        ("short_pick", "12.30", "2.33")
    ]
    assert desk.order().lines[0].backordered == 0


def test_backordering_more_units_than_are_open_is_over_limit() -> None:
    desk = ada()

    rejection = refused(desk, backorder, "l2", 2)

    assert isinstance(rejection, OverLimit)
    assert rejection.message == (
        "line l2 (BOOK-ENGINE) has 1 open unit(s) not yet backordered; 2 cannot be backordered"
    )
    assert rejection.details == {"field": "data.quantity", "limit": 1}


def test_a_backorder_for_an_unknown_line_or_order_is_not_found() -> None:
    desk = ada()

    line = refused(desk, backorder, "l9")
    order = refused(desk, backorder, "l2", order_id="ord_ghost")

    assert (line.code, line.details) == ("not_found", {"field": "data.line_id"})
    assert (order.code, order.details) == ("not_found", {"field": "data.order_id"})


def test_a_backorder_reporting_another_sku_than_the_line_holds_is_invalid() -> None:
    rejection = refused(ada(), backorder, "l2", sku="MUG-ADA")

    assert type(rejection) is Invalid
    assert rejection.details == {"field": "data.sku"}


def test_shipping_the_backordered_units_clears_the_backorder() -> None:
    desk = ada()
    backorder(desk, "l2", 1)

    ship(desk, l2=1)

    book = desk.order().lines[1]
    assert (book.backordered, book.expected_date, book.state) == (0, None, "shipped")


# --- refunds settled or failed ---------------------------------------------------------------


def test_a_settled_refund_is_closed_and_published() -> None:
    desk = ada()
    remove_the_book(desk)

    change = report(
        desk, payments.refund_settled, RefundConfirmed, refund_id="rf_1",
        provider_reference="re_3PxAda",
    )  # fmt: skip

    [settled] = change.events
    assert isinstance(settled, RefundSettled)
    assert (settled.refund.refund_id, settled.refund.status, str(settled.refund.amount)) == (
        "rf_1",
        "settled",
        "26.74",
    )
    assert settled.provider_reference == "re_3PxAda"
    assert change.result == {"refund_id": "rf_1", "status": "settled"}
    [(refund, _)] = desk.uow.ledger.refunds
    assert refund.status == "settled"
    assert desk.order().version == 2  # the order itself did not change
    assert desk.order().payment.refunded == Decimal("26.74")
    [audit] = change.audit
    assert (audit.action, audit.before, audit.after) == (
        "refund.settled",
        {"refund_id": "rf_1", "status": "requested"},
        {"refund_id": "rf_1", "status": "settled", "amount": "26.74", "failure_reason": None},
    )


def test_a_failed_refund_reopens_the_amount_as_credit_owed() -> None:
    desk = ada()
    remove_the_book(desk)

    change = report(
        desk, payments.refund_failed, RefundDeclined, refund_id="rf_1",
        failure_reason="card expired",
    )  # fmt: skip

    [failed] = change.events
    assert isinstance(failed, RefundFailed)
    assert (failed.refund.status, failed.failure_reason, str(failed.credit_owed)) == (
        "failed",
        "card expired",
        "26.74",
    )
    assert change.result == {"refund_id": "rf_1", "status": "failed", "credit_owed": "26.74"}
    order = desk.order()
    assert (order.payment.refunded, order.version) == (Decimal(0), 3)
    state = order.payment_state()
    assert (state.credit_owed, state.balance_due) == (Decimal("26.74"), Decimal(0))
    [(refund, _)] = desk.uow.ledger.refunds
    assert (refund.status, refund.failure_reason) == ("failed", "card expired")


def answer(desk: Helpdesk, refund_id: str, status: str) -> Change:
    """The payment service settles a refund or says why it could not."""
    if status == "settled":
        return report(desk, payments.refund_settled, RefundConfirmed, refund_id=refund_id)
    return report(
        desk, payments.refund_failed, RefundDeclined, refund_id=refund_id,
        failure_reason="insufficient funds",
    )  # fmt: skip


@pytest.mark.parametrize("first", ["settled", "failed"])
@pytest.mark.parametrize("then", ["settled", "failed"])
def test_a_refund_is_confirmed_or_declined_only_once(first: str, then: str) -> None:
    desk = ada()
    remove_the_book(desk)
    answer(desk, "rf_1", first)

    rejection = refused(desk, answer, "rf_1", then)

    assert type(rejection) is NotAllowedInState
    assert rejection.message == f"refund rf_1 is {first} already"
    assert rejection.details == {"field": "data.refund_id", "status": first}


def test_a_store_credit_refund_is_settled_at_once_and_cannot_be_confirmed() -> None:
    desk = ada()
    remove_the_book(desk, settle_to="store_credit")

    rejection = refused(desk, report, payments.refund_settled, RefundConfirmed, refund_id="rf_1")

    assert rejection.details == {"field": "data.refund_id", "status": "settled"}


def test_an_unknown_refund_or_one_of_another_order_is_not_found() -> None:
    desk = ada()
    remove_the_book(desk)
    desk.place_ada(order_id="ord_ada_2")

    unknown = refused(desk, report, payments.refund_settled, RefundConfirmed, refund_id="rf_9")
    other = refused(
        desk, report, payments.refund_settled, RefundConfirmed, order_id="ord_ada_2",
        refund_id="rf_1",
    )  # fmt: skip

    assert (unknown.code, unknown.message) == ("not_found", "order ord_ada_1 has no refund rf_9")
    assert (other.code, other.message) == ("not_found", "order ord_ada_2 has no refund rf_1")
    assert other.details == {"field": "data.refund_id"}


def test_cumulative_refunds_never_exceed_the_captured_amount() -> None:
    # Given only 30.00 of Ada's 61.90 was captured
    desk = ada(payment={"authorized": "61.90", "captured": "30.00", "reference": "psp_ch_4242"})

    # When the book goes (the new total 35.16 is still above the capture) and then the rest
    first = remove_the_book(desk)
    second = desk.send(cancel_order, CancelOrder, order_id="ord_ada_1", reason="customer_request")

    # Then 61.90 is credited but only the 30.00 captured is refunded; the rest is released
    memos = [m for m, _ in desk.uow.ledger.credit_memos]
    assert sum((m.total for m in memos), Decimal(0)) == Decimal("61.90")
    assert [str(r.amount) for r, _ in desk.uow.ledger.refunds] == ["30.00"]
    assert not any(isinstance(e, RefundRequested) for e in first.events)
    assert [type(e).__name__ for e in second.events if isinstance(e, AuthorizationReduced)] == [
        "AuthorizationReduced"
    ]
    order = desk.order()
    assert order.payment.refunded == order.payment.captured == Decimal("30.00")
    assert order.payment_state().to_capture == 0


# --- captures --------------------------------------------------------------------------------


def add_a_poster(desk: Helpdesk) -> None:
    """An agent adds a poster: 5.95 becomes due."""
    desk.send(
        amend_order, AmendOrder, order_id="ord_ada_1", reason="customer_request",
        changes=[{"action": "add", "sku": "POSTER-BABBAGE", "quantity": 1}],
    )  # fmt: skip


def capture(desk: Helpdesk, amount: str, currency: str = "EUR") -> Change:
    return report(desk, payments.captured, Captured, amount=amount, currency=currency)


def test_a_capture_pays_the_balance_due() -> None:
    desk = ada()
    add_a_poster(desk)

    change = capture(desk, "5.95")

    assert change.result == {"captured": "67.85", "balance_due": "0.00"}
    assert (change.version, desk.order().version) == (3, 3)
    state = desk.order().payment_state()
    assert (state.captured, state.authorized, state.balance_due) == (
        Decimal("67.85"),
        Decimal("67.85"),
        Decimal(0),
    )
    assert change.audit[0].action == "payment.captured"
    [told] = change.events
    assert isinstance(told, PaymentCaptured)
    assert (told.order_id, told.account_id, told.version, told.amount, told.currency) == (
        "ord_ada_1", desk.order().account_id, 3, Decimal("5.95"), "EUR",
    )  # fmt: skip
    assert (told.payment.captured, told.payment.balance_due) == (Decimal("67.85"), Decimal(0))


def test_capturing_more_than_the_balance_due_is_over_limit() -> None:
    desk = ada()
    add_a_poster(desk)

    rejection = refused(desk, capture, "6.00")

    assert isinstance(rejection, OverLimit)
    assert rejection.message == (
        "capturing 6.00 EUR exceeds the 5.95 EUR balance due on order ord_ada_1"
    )
    assert rejection.details == {"field": "data.amount", "limit": "5.95"}


def test_a_capture_in_another_currency_is_invalid() -> None:
    desk = ada()
    add_a_poster(desk)

    rejection = refused(desk, capture, "600", "JPY")

    assert type(rejection) is Invalid
    assert rejection.message == "order ord_ada_1 is in EUR, the capture in JPY"
    assert rejection.details == {"field": "data.currency"}


def test_a_capture_finer_than_the_currency_allows_is_invalid() -> None:
    desk = ada()
    add_a_poster(desk)

    rejection = refused(desk, capture, "5.955")

    assert type(rejection) is Invalid
    assert rejection.message == "amount 5.955 has more decimals than EUR allows"


def retry(desk: Helpdesk, refund_id: str = "rf_1", **data: Any) -> Change:
    """An agent pays out again what a declined refund left owed."""
    return desk.send(
        payments.retry_refund, RetryRefund, order_id="ord_ada_1", refund_id=refund_id,
        reason="refund_declined", **data,
    )  # fmt: skip


def test_a_declined_refund_is_paid_out_again_as_store_credit_on_an_agents_retry() -> None:
    # Given the book's refund was declined (card expired): 26.74 is owed to Ada
    desk = ada()
    remove_the_book(desk)
    answer(desk, "rf_1", "failed")

    # When an agent retries it as store credit
    change = retry(desk, settle_to="store_credit")

    # Then a new refund, settled at once, pays it and nothing is owed any more
    [settled] = change.events
    assert isinstance(settled, RefundSettled)
    assert (settled.refund.refund_id, str(settled.refund.amount), settled.refund.retry_of) == (
        "rf_2",
        "26.74",
        "rf_1",
    )
    assert change.result == {"refund_id": "rf_2", "amount": "26.74", "method": "store_credit"}
    state = desk.order().payment_state()
    assert (state.credit_owed, state.refunded) == (Decimal(0), Decimal("26.74"))
    [(account, credit, _)] = desk.uow.ledger.store_credit
    assert (account, credit.refund_id) == ("acc_ada", "rf_2")
    assert [a.action for a in change.audit] == ["refund.retried", "store_credit.granted"]


def test_a_retry_to_the_original_payment_asks_the_payment_service_again() -> None:
    desk = ada()
    remove_the_book(desk)
    answer(desk, "rf_1", "failed")

    [requested] = retry(desk).events

    assert isinstance(requested, RefundRequested)
    assert (requested.refund.status, requested.payment_reference) == ("requested", "psp_ch_4242")


@pytest.mark.parametrize("status", ["requested", "settled"])
def test_only_a_failed_refund_is_retried(status: str) -> None:
    desk = ada()
    remove_the_book(desk)
    if status == "settled":
        answer(desk, "rf_1", "settled")

    rejection = refused(desk, retry)

    assert type(rejection) is NotAllowedInState
    assert rejection.message == f"refund rf_1 is {status}: only a failed refund is retried"


def test_a_failed_refund_is_retried_once() -> None:
    desk = ada()
    remove_the_book(desk)
    answer(desk, "rf_1", "failed")
    retry(desk)

    rejection = refused(desk, retry)

    assert rejection.message == "refund rf_1 was retried already"


def test_a_warehouse_message_written_against_another_version_is_refused() -> None:
    desk = ada()

    rejection = refused(
        desk, report, fulfillment.shipped, Shipped, shipment_id="shp_1", carrier="DHL",
        tracking_number="1", warehouse="w", lines=[{"line_id": "l1", "quantity": 1}],
        expected_version=7,
    )  # fmt: skip

    assert rejection.code == "version_conflict"
    assert rejection.details == {"current_version": 1, "expected_version": 7}
