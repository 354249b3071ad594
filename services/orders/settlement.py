"""Settling a change of an order's total: the credit memo, the refund, the capture left.

Invariant (SPEC.md, Money): captured - refunded - total = credit_owed - balance_due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from services.errors import OverLimit
from services.ids import IdFactory
from services.ledger import CreditLine, CreditMemo, Refund, RefundStatus, SettleTo
from services.money import ZERO
from services.pricing import Priced

if TYPE_CHECKING:
    from services.orders.model import Order, PaymentFacts


@dataclass(frozen=True, slots=True)
class PaymentState:
    """Derived money position of an order."""

    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    to_capture: Decimal
    balance_due: Decimal
    credit_owed: Decimal


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a decrease produced: a credit memo, maybe a refund, and authorisation let go."""

    credit_memo: CreditMemo | None
    refund: Refund | None
    refund_due: Decimal
    authorization_released: Decimal


def payment_state(order_total: Decimal, payment: PaymentFacts) -> PaymentState:
    """Balance due and credit owed from the facts; remaining authorisation covers the balance."""
    difference = payment.captured - payment.refunded - order_total
    balance_due = max(-difference, ZERO)
    return PaymentState(
        authorized=payment.authorized,
        captured=payment.captured,
        refunded=payment.refunded,
        to_capture=min(balance_due, max(payment.authorized - payment.captured, ZERO)),
        balance_due=balance_due,
        credit_owed=max(difference, ZERO),
    )


def credit_lines(
    before: Priced, after: Priced, reason: str, names: dict[str, str]
) -> list[CreditLine]:
    """One credit line per line whose net or tax went down, and one for shipping."""
    lines = []
    for old in before.lines:
        new = after.line(old.line_id)
        if new.net < old.net or new.tax < old.tax:
            lines.append(
                CreditLine(
                    reason, names[old.line_id], old.net - new.net, old.tax - new.tax, old.line_id
                )
            )
    if after.shipping < before.shipping or after.shipping_tax < before.shipping_tax:
        lines.append(
            CreditLine(
                reason,
                "shipping",
                before.shipping - after.shipping,
                before.shipping_tax - after.shipping_tax,
            )
        )
    return lines


def settle(
    order: Order,
    before: Priced,
    after: Priced,
    *,
    reason: str,
    settle_to: SettleTo,
    now: datetime,
    ids: IdFactory,
) -> Settlement:
    """Issue the credit memo for a decrease and settle what is owed back."""
    old_state = order.payment_state(before)
    lines = credit_lines(before, after, reason, {line.line_id: line.name for line in order.lines})
    memo = _issue_memo(order, lines, settle_to, now, ids) if lines else None
    new_state = order.payment_state(after)
    refund = None
    if memo is not None and new_state.credit_owed > 0:
        refund = _refund(order, memo, new_state.credit_owed, settle_to, now, ids)
        order.record_refund(refund)
    return Settlement(
        credit_memo=memo,
        refund=refund,
        refund_due=refund.amount if refund else ZERO,
        authorization_released=max(old_state.to_capture - new_state.to_capture, ZERO),
    )


def _issue_memo(
    order: Order, lines: list[CreditLine], settle_to: SettleTo, now: datetime, ids: IdFactory
) -> CreditMemo:
    amount = sum((line.net + line.tax for line in lines), ZERO)
    invoice = next((i for i in order.invoices if i.open >= amount), None)
    if invoice is None:
        left = sum((i.open for i in order.invoices), ZERO)
        raise OverLimit(
            f"a credit of {amount} {order.currency} exceeds the {left} {order.currency} "
            "left to credit on the order's invoices",
            limit=str(left),
        )
    memo = CreditMemo(
        ids("cm"), order.order_id, invoice.invoice_id, order.currency, tuple(lines), settle_to, now
    )
    order.record_credit(memo)
    return memo


def _refund(
    order: Order,
    memo: CreditMemo,
    owed: Decimal,
    settle_to: SettleTo,
    now: datetime,
    ids: IdFactory,
) -> Refund:
    refundable = order.payment.captured - order.payment.refunded
    amount = min(owed, memo.total, refundable)
    status: RefundStatus = "settled" if settle_to == "store_credit" else "requested"
    return Refund(
        ids("rf"),
        order.order_id,
        memo.credit_memo_id,
        order.currency,
        amount,
        settle_to,
        status,
        now,
    )
