"""The events an order change publishes, and the compact state the audit keeps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from contracts.orders import CreditMemoIssued, OrderCancelled, OrderCreated, RefundRequested
from services.handling import AuditEntry
from services.money import round_money
from services.orders.model import Order
from services.orders.settlement import Settlement
from services.orders.views import (
    credit_memo_view,
    delivery_view,
    lines_view,
    payment_view,
    refund_view,
    totals_view,
)
from services.pricing import Priced


def order_created(order: Order, invoice_id: str) -> OrderCreated:
    priced = order.priced()
    return OrderCreated(
        order_id=order.order_id,
        account_id=order.account_id,
        version=order.version,
        lines=lines_view(order, priced),
        delivery=delivery_view(order),
        totals=totals_view(priced),
        payment=payment_view(order.payment_state(priced), order.currency),
        invoice_id=invoice_id,
    )


def order_cancelled(
    order: Order, reason: str, old: Priced, settlement: Settlement
) -> OrderCancelled:
    new = order.priced()
    memo, refund = settlement.credit_memo, settlement.refund
    return OrderCancelled(
        order_id=order.order_id,
        account_id=order.account_id,
        version=order.version,
        reason=reason,
        old_totals=totals_view(old),
        new_totals=totals_view(new),
        payment=payment_view(order.payment_state(new), order.currency),
        credit_memo_id=memo.credit_memo_id if memo else None,
        refund_due=round_money(settlement.refund_due, order.currency),
        authorization_released=round_money(settlement.authorization_released, order.currency),
        refund_id=refund.refund_id if refund else None,
    )


def cancel_result(event: OrderCancelled) -> dict[str, Any]:
    """What `command.accepted` says about a cancellation."""
    return event.model_dump(
        mode="json",
        include={
            "new_totals",
            "credit_memo_id",
            "refund_due",
            "authorization_released",
            "refund_id",
        },
    )


def settlement_events(order: Order, settlement: Settlement) -> list[BaseModel]:
    """credit_memo.issued, and refund.requested when money goes back to the original payment
    (store credit is settled at once: nothing for the payment service to do)."""
    produced: list[BaseModel] = []
    if settlement.credit_memo:
        produced.append(
            CreditMemoIssued(
                order_id=order.order_id,
                account_id=order.account_id,
                credit_memo=credit_memo_view(settlement.credit_memo),
            )
        )
    if settlement.refund and settlement.refund.method == "original_payment":
        produced.append(
            RefundRequested(
                order_id=order.order_id,
                account_id=order.account_id,
                refund=refund_view(settlement.refund),
                payment_reference=order.payment.reference,
            )
        )
    return produced


def settlement_audit(order: Order, settlement: Settlement) -> list[AuditEntry]:
    """Store credit granted shows in the account's audit trail too."""
    refund = settlement.refund
    if refund is None or refund.method != "store_credit":
        return []
    granted = {"store_credit": str(refund.amount), "currency": refund.currency,
               "order_id": order.order_id, "refund_id": refund.refund_id}  # fmt: skip
    return [AuditEntry("billing_account", order.account_id, "store_credit.granted", None, granted)]


def audit_state(order: Order) -> dict[str, Any]:
    """The order's state as the audit trail keeps it: status, version, lines, money."""
    priced = order.priced()
    return {
        "status": order.status,
        "version": order.version,
        "lines": {line.line_id: [line.sku, line.quantity] for line in order.lines},
        "total": str(priced.total),
        "refunded": str(order.payment.refunded),
    }
