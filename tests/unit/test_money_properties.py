"""The money invariants of SPEC.md, for random orders in EUR, JPY and KWD."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger import SettleTo
from services.money import MINOR_UNITS, is_rounded, quantum
from services.orders.model import DeliveryInfo, Line, Order, PaymentFacts
from services.orders.settlement import Settlement
from services.pricing import Priced

from .builders import BERLIN, cancel_all, total_of
from .fakes import NOW, CountingIds

CURRENCIES = ("EUR", "JPY", "KWD")
TAX_CLASSES = ("standard", "reduced", "zero")
RATES = tuple(
    Decimal(r)
    for r in ("0", "0.05", "0.055", "0.07", "0.08", "0.1", "0.135", "0.19", "0.2", "0.21", "0.25")
)


@dataclass(frozen=True)
class Scenario:
    currency: str
    lines: list[Line]
    rates: dict[str, Decimal]
    fee: Decimal
    authorized: Decimal
    captured: Decimal
    settle_to: SettleTo

    def place(self) -> Order:
        order, _ = Order.place(
            order_id="ord_prop",
            account_id="acc_prop",
            currency=self.currency,
            lines=[
                Line(x.line_id, x.sku, x.name, x.unit_price, x.tax_class, x.ordered)
                for x in self.lines
            ],
            delivery=DeliveryInfo("standard", "DE", self.fee, address=dict(BERLIN)),
            tax_rates=self.rates,
            payment=PaymentFacts(self.authorized, self.captured),
            invoice_id="inv_prop",
            now=NOW,
        )
        return order


def minor_units(currency: str, low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Amounts on the currency's minor unit: 0.01 EUR, 1 JPY, 0.001 KWD."""
    step = quantum(currency)
    return st.integers(low, high).map(lambda n: n * step)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    currency = draw(st.sampled_from(CURRENCIES))
    scale = 10 ** MINOR_UNITS[currency]
    count = draw(st.integers(1, 6))
    lines = [
        Line(
            f"l{n}",
            f"SKU-{n}",
            f"Item {n}",
            draw(minor_units(currency, 0, 500 * scale)),
            draw(st.sampled_from(TAX_CLASSES)),
            draw(st.integers(1, 40)),
        )
        for n in range(1, count + 1)
    ]
    rates = {k: draw(st.sampled_from(RATES)) for k in TAX_CLASSES}
    fee = draw(minor_units(currency, 0, 20 * scale))
    total = total_of(lines, currency, "DE", fee, rates)
    in_minor = int(total * scale)
    captured = draw(st.integers(0, in_minor)) * quantum(currency)
    authorized = total + draw(minor_units(currency, 0, 50 * scale))
    settle_to: SettleTo = draw(st.sampled_from(("original_payment", "store_credit")))
    return Scenario(currency, lines, rates, fee, authorized, captured, settle_to)


def amounts_of(order: Order, priced: Priced, settlement: Settlement | None) -> Iterable[Decimal]:
    yield from (priced.subtotal, priced.discounts, priced.shipping, priced.shipping_tax)
    yield from (priced.tax, priced.total)
    for p in priced.lines:
        yield from (p.amount, p.discount, p.net, p.tax)
    state = order.payment_state(priced)
    yield from (state.to_capture, state.balance_due, state.credit_owed, state.refunded)
    for invoice in order.invoices:
        yield from (invoice.total, invoice.credited)
    if settlement is not None:
        yield from (settlement.refund_due, settlement.authorization_released)
        for memo in settlement.credit_memos:
            for c in memo.lines:
                yield from (c.net, c.tax)
        for refund in settlement.refunds:
            yield refund.amount


def assert_money_invariants(order: Order, settlement: Settlement | None = None) -> None:
    priced = order.priced()
    state = order.payment_state(priced)
    # paid minus refunded minus the current total equals credit owed minus balance due
    assert (
        order.payment.captured - order.payment.refunded - priced.total
        == state.credit_owed - state.balance_due
    )
    assert state.credit_owed >= 0 and state.balance_due >= 0
    assert priced.total == priced.subtotal - priced.discounts + priced.shipping + priced.tax
    assert all(is_rounded(a, order.currency) for a in amounts_of(order, priced, settlement))
    assert all(i.credited <= i.total for i in order.invoices)
    assert 0 <= order.payment.refunded <= order.payment.captured


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_a_placed_order_keeps_the_money_invariants(scenario: Scenario) -> None:
    order = scenario.place()

    assert_money_invariants(order)
    assert order.payment_state().balance_due == order.priced().total - scenario.captured


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_a_cancelled_order_credits_its_old_total_and_refunds_what_was_captured(
    scenario: Scenario,
) -> None:
    # Given a random order placed with a payment that covers it
    order = scenario.place()
    old_total = order.priced().total

    # When it is cancelled
    settlement = cancel_all(
        order,
        reason="customer_request",
        settle_to=scenario.settle_to,
        now=NOW + timedelta(minutes=5),
        ids=CountingIds(),
    )

    # Then the invariants hold, the memo credits the old total, and the capture comes back
    assert_money_invariants(order, settlement)
    memo_total = sum((m.total for m in settlement.credit_memos), Decimal(0))
    assert memo_total == old_total
    assert settlement.refund_due == min(scenario.captured, old_total)
    assert order.payment.refunded == settlement.refund_due
    if settlement.refunds:
        assert settlement.refunds[0].method == scenario.settle_to
        assert settlement.refunds[0].amount == settlement.refund_due
    else:
        assert settlement.refund_due == 0
    assert order.priced().total == 0
    assert order.payment_state().credit_owed == 0
