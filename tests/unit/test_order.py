"""The Order aggregate: placing, the payment it needs, and cancelling."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from services.errors import (
    AlreadyCancelled,
    AlreadyShipped,
    Invalid,
    NotAllowedInState,
    VersionConflict,
)
from services.orders import changes
from services.orders.model import Line, SetQuantity

from .builders import cancel_all, mugs_and_book, place
from .fakes import NOW, CountingIds

LATER = NOW + timedelta(hours=2)
#: Two mugs 24.60 + 4.67 VAT, a book 24.99 + 1.75 VAT, shipping 4.95 + 0.94 VAT.
ADA_TOTAL = Decimal("61.90")


def test_a_placed_order_starts_open_at_version_1_with_an_invoice_for_its_total() -> None:
    order, invoice = place()

    assert (order.status, order.version) == ("open", 1)
    assert order.priced().total == ADA_TOTAL
    assert invoice.total == ADA_TOTAL
    assert invoice.tax == Decimal("7.36")
    assert invoice.net == Decimal("54.54")  # goods 49.59 + shipping 4.95
    assert [(i.invoice_id, i.total, i.credited) for i in order.invoices] == [
        ("inv_ada_1", ADA_TOTAL, Decimal(0))
    ]


def test_an_order_is_refused_when_the_authorisation_does_not_cover_its_total() -> None:
    with pytest.raises(Invalid) as refused:
        place(authorized=Decimal("61.89"), captured=Decimal("0"))

    assert refused.value.details == {"field": "data.payment.authorized", "total": "61.90"}
    assert "does not cover" in refused.value.message


def test_an_order_is_refused_when_more_was_captured_than_it_costs() -> None:
    with pytest.raises(Invalid) as refused:
        place(authorized=Decimal("100.00"), captured=Decimal("61.91"))

    assert refused.value.details == {"field": "data.payment.captured", "total": "61.90"}


def test_an_authorised_but_uncaptured_order_has_its_total_left_to_capture() -> None:
    order, _ = place(authorized=Decimal("70.00"), captured=Decimal("0"))

    state = order.payment_state()
    assert state.balance_due == ADA_TOTAL
    assert state.to_capture == ADA_TOTAL
    assert state.credit_owed == Decimal(0)


def test_cancelling_credits_every_line_and_the_shipping_and_refunds_the_capture() -> None:
    # Given Ada's order, fully captured
    order, _ = place()

    # When an agent cancels it
    settlement = cancel_all(
        order, reason="customer_request", settle_to="original_payment", now=LATER, ids=CountingIds()
    )

    # Then every unit is cancelled and the order moved one version on
    assert (order.status, order.version, order.updated_at) == ("cancelled", 2, LATER)
    assert [(x.quantity, x.cancelled, x.state) for x in order.lines] == [
        (0, 2, "cancelled"),
        (0, 1, "cancelled"),
    ]
    assert order.priced().total == Decimal(0)
    # And one credit memo against the invoice credits each line and the shipping
    memo = settlement.credit_memos[0]
    assert memo is not None
    assert (memo.credit_memo_id, memo.invoice_id, memo.settle_to) == (
        "cm_1",
        "inv_ada_1",
        "original_payment",
    )
    assert [(x.reason, x.description, x.line_id, x.net, x.tax) for x in memo.lines] == [
        ("cancellation", "Ada Lovelace mug", "l1", Decimal("24.60"), Decimal("4.67")),
        ("cancellation", "The Analytical Engine", "l2", Decimal("24.99"), Decimal("1.75")),
        ("cancellation", "shipping", None, Decimal("4.95"), Decimal("0.94")),
    ]
    assert memo.total == ADA_TOTAL
    assert order.invoices[0].credited == ADA_TOTAL
    # And the captured money goes back to the original payment
    [refund] = settlement.refunds
    assert (refund.refund_id, refund.amount, refund.method, refund.status) == (
        "rf_1",
        ADA_TOTAL,
        "original_payment",
        "requested",
    )
    assert settlement.refund_due == ADA_TOTAL
    assert settlement.authorization_released == Decimal(0)
    assert order.payment.refunded == ADA_TOTAL
    assert order.payment_state().credit_owed == Decimal(0)


def test_cancelling_an_order_only_authorised_releases_the_authorisation_and_refunds_nothing() -> (
    None
):
    order, _ = place(captured=Decimal("0"))

    settlement = cancel_all(
        order, reason="customer_request", settle_to="original_payment", now=LATER, ids=CountingIds()
    )

    assert not settlement.refunds
    assert settlement.refund_due == Decimal(0)
    assert settlement.authorization_released == ADA_TOTAL
    assert settlement.credit_memos[0] is not None
    assert settlement.credit_memos[0].total == ADA_TOTAL
    assert order.payment.refunded == Decimal(0)
    assert order.payment_state().to_capture == Decimal(0)


def test_cancelling_a_partly_captured_order_refunds_the_capture_and_releases_the_rest() -> None:
    order, _ = place(captured=Decimal("20.00"))

    settlement = cancel_all(
        order, reason="customer_request", settle_to="original_payment", now=LATER, ids=CountingIds()
    )

    assert settlement.refund_due == Decimal("20.00")
    assert settlement.authorization_released == Decimal("41.90")


def test_cancelling_to_store_credit_settles_the_refund_at_once() -> None:
    order, _ = place()

    settlement = cancel_all(
        order, reason="customer_request", settle_to="store_credit", now=LATER, ids=CountingIds()
    )

    assert settlement.credit_memos[0] is not None
    assert settlement.credit_memos[0].settle_to == "store_credit"
    assert settlement.refunds
    assert (settlement.refunds[0].method, settlement.refunds[0].status) == (
        "store_credit",
        "settled",
    )
    assert settlement.refunds[0].amount == ADA_TOTAL


def test_an_order_cannot_be_cancelled_twice() -> None:
    order, _ = place()
    cancel_all(
        order, reason="customer_request", settle_to="original_payment", now=LATER, ids=CountingIds()
    )

    with pytest.raises(AlreadyCancelled) as refused:
        cancel_all(
            order,
            reason="customer_request",
            settle_to="original_payment",
            now=LATER,
            ids=CountingIds(),
        )

    assert isinstance(refused.value, NotAllowedInState)
    assert refused.value.code == "not_allowed_in_state"
    assert refused.value.details == {"status": "cancelled"}
    assert order.version == 2
    assert order.payment.refunded == ADA_TOTAL


def test_an_order_with_a_shipped_unit_cannot_be_cancelled_and_the_line_is_named() -> None:
    # Given the book has shipped
    lines = mugs_and_book()
    lines[1].shipped = 1
    order, _ = place(lines=lines)

    # When an agent tries to cancel the order
    with pytest.raises(AlreadyShipped) as refused:
        cancel_all(
            order,
            reason="customer_request",
            settle_to="original_payment",
            now=LATER,
            ids=CountingIds(),
        )

    # Then it is refused naming the line and its shipped units, and nothing changed
    assert refused.value.code == "not_allowed_in_state"
    assert refused.value.details == {"line_id": "l2", "shipped": 1}
    assert "line l2 (BOOK-ENGINE) has 1 shipped unit" in refused.value.message
    assert (order.status, order.version) == ("open", 1)
    assert [x.cancelled for x in order.lines] == [0, 0]
    assert order.payment.refunded == Decimal(0)


def test_a_command_written_against_another_version_is_refused_with_the_current_one() -> None:
    order, _ = place()

    with pytest.raises(VersionConflict) as refused:
        order.check_version(3)

    assert refused.value.code == "version_conflict"
    assert refused.value.details == {"current_version": 1, "expected_version": 3}


def test_a_command_at_the_current_version_or_without_one_passes_the_check() -> None:
    order, _ = place()

    order.check_version(1)
    order.check_version(None)


def test_a_line_state_follows_its_units() -> None:
    line = Line("l1", "MUG-ADA", "Ada Lovelace mug", Decimal("12.30"), "standard", 3)
    states: list[str] = [line.state]
    for units, count in [("shipped", 1), ("shipped", 3), ("delivered", 3), ("cancelled", 3)]:
        setattr(line, units, count)
        states.append(line.state)

    assert states == ["open", "partially_shipped", "shipped", "delivered", "cancelled"]
    assert line.quantity == 0


def test_readme_shows_the_edit_rules_the_code_reads() -> None:
    from pathlib import Path

    from services.orders.rules import markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("<!-- edit-rules:begin -->\n")[1].split("<!-- edit-rules:end -->")[0]
    assert shown == markdown()


def test_the_order_records_what_happened_as_it_changes_and_hands_it_over_once() -> None:
    order, _ = place()
    order.amend([SetQuantity("l1", 1)], "customer asked", "original_payment")
    settlement = order.settle(LATER, CountingIds())
    order.finish(LATER)

    happened, pending = order.collect()

    amended, settled, fulfilment = happened
    assert isinstance(amended, changes.Amended) and amended.reason == "customer asked"
    assert [(e.action, e.line_id, e.old_quantity, e.new_quantity) for e in amended.edits] == [
        ("quantity_changed", "l1", 2, 1)
    ]
    assert isinstance(settled, changes.Settled) and settled.settlement is settlement
    assert settlement.old_total == ADA_TOTAL and settlement.new_total < ADA_TOTAL
    # The warehouse hears of the line that changed, with what it had to ship before.
    assert isinstance(fulfilment, changes.FulfilmentChanged)
    assert fulfilment.to_ship == {"l1": 2} and not fulfilment.delivery_moved
    assert (pending.version, pending.priced.total) == (1, ADA_TOTAL)
    assert pending.reasons["l1"] == ("quantity_reduced", "quantity_increased")
    # The next command starts afresh.
    assert order.collect()[0] == [] and order.pending is None


def test_a_settlement_is_a_value_the_order_applies_to_its_invoices_and_payment() -> None:
    order, _ = place()
    order.cancel("order", "out of stock", "original_payment")
    settlement = order.settle(LATER, CountingIds())

    [memo] = settlement.credit_memos
    [refund] = settlement.refunds
    assert memo.total == ADA_TOTAL and refund.amount == ADA_TOTAL
    assert order.invoices[0].credited == ADA_TOTAL
    assert order.payment.refunded == ADA_TOTAL
    assert settlement.after.credit_owed == 0
