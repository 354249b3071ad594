"""Returns on Ada's order: two rules found missing while the return e-mail was built (a
decision's refund pays the return label; return events name their items), now kept."""

from __future__ import annotations

from contracts.returns import DecideReturn
from services.orders.return_handlers import decide_return

from .test_returns import arrive, ask, assert_money_adds_up, delivered, memo_lines


def test_a_prepaid_label_is_deducted_when_a_manager_accepts_units_awaiting_a_decision() -> None:
    """The shipping policy: a customer's-choice label is deducted once per return when the
    return refunds at least its cost, also when only a manager's decision makes it refund."""
    desk = delivered()
    ask(desk, ("l1", 2, "changed_mind"), method="carrier_label")
    arrive(desk, ("l1", "MUG-ADA", "wrong_item", 2))

    decided = desk.send(
        decide_return, DecideReturn, role="manager", order_id="ord_ada_1", return_id="rma_1",
        decisions=[{"line_id": "l1", "condition": "wrong_item", "outcome": "full"}],
    )  # fmt: skip

    # As when the same mugs arrive resellable (test_a_prepaid_label_is_deducted_when_…).
    assert memo_lines(decided) == [
        ("return", "24.60", "4.67"),
        ("return_shipping", "-4.95", "-0.94"),
    ]
    assert_money_adds_up(desk)


def test_return_events_name_each_returned_item_for_the_customer_email() -> None:
    """The return_received e-mail lists items by name, as every other e-mail does."""
    desk = delivered()
    ask(desk, ("l1", 1, "changed_mind"), ("l2", 1, "changed_mind"))

    change = arrive(
        desk, ("l1", "MUG-ADA", "resellable", 1), ("l2", "BOOK-ENGINE", "resellable", 1)
    )

    rma = change.events[0].rma  # type: ignore[attr-defined]
    assert [(x.sku, x.name) for x in rma.lines] == [
        ("MUG-ADA", "Ada Lovelace mug"),
        ("BOOK-ENGINE", "The Analytical Engine"),
    ]
