"""What the payment service reports: refunds settled or failed, money captured."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from contracts.orders import RefundFailed, RefundRequested, RefundSettled, RetryRefund
from contracts.payments import Captured, RefundConfirmed, RefundDeclined
from services.context import AuditEntry, Change, Context
from services.errors import Invalid, NotAllowedInState, NotFound
from services.ledger import Refund
from services.money import is_rounded, round_money
from services.orders import events
from services.orders.handlers import locked, record_step
from services.orders.model import Order
from services.orders.settlement import refund
from services.orders.views import refund_view
from services.ports import UnitOfWork


def refund_settled(msg: RefundConfirmed, ctx: Context, uow: UnitOfWork) -> Change:
    order = locked(msg.order_id, uow)
    order.check_version(msg.expected_version)
    refund = _requested(order, msg.refund_id, uow)
    settled = replace(refund, status="settled")
    uow.ledger.update_refund(settled, ctx.now)
    event = RefundSettled(
        order_id=order.order_id,
        account_id=order.account_id,
        refund=refund_view(settled),
        provider_reference=msg.provider_reference,
    )
    return Change(
        order.order_id,
        order.version,
        {"refund_id": refund.refund_id, "status": "settled"},
        [event],
        [_audit(order, refund, settled)],
    )


def refund_failed(msg: RefundDeclined, ctx: Context, uow: UnitOfWork) -> Change:
    """The money is owed again: it shows as credit owed on the order until it is settled."""
    order = locked(msg.order_id, uow)
    order.check_version(msg.expected_version)
    refund = _requested(order, msg.refund_id, uow)
    failed = replace(refund, status="failed", failure_reason=msg.failure_reason)
    uow.ledger.update_refund(failed, ctx.now)
    order.reverse_refund(refund)
    order.finish(ctx.now)
    uow.orders.save(order)
    owed = order.payment_state().credit_owed
    event = RefundFailed(
        order_id=order.order_id,
        account_id=order.account_id,
        refund=refund_view(failed),
        failure_reason=msg.failure_reason,
        credit_owed=round_money(owed, order.currency),
    )
    return Change(
        order.order_id,
        order.version,
        {"refund_id": refund.refund_id, "status": "failed", "credit_owed": str(event.credit_owed)},
        [event],
        [_audit(order, refund, failed)],
    )


def retry_refund(cmd: RetryRefund, ctx: Context, uow: UnitOfWork) -> Change:
    """Pay out again what a declined refund left owed: to the original payment, or as store
    credit. Never more than is owed, nor than was captured and not refunded."""
    order = locked(cmd.order_id, uow)
    order.check_version(cmd.expected_version)
    failed = uow.ledger.refund(cmd.refund_id)
    if failed is None or failed.order_id != order.order_id:
        raise NotFound(
            f"order {order.order_id} has no refund {cmd.refund_id}", field="data.refund_id"
        )
    if failed.status != "failed":
        raise NotAllowedInState(
            f"refund {cmd.refund_id} is {failed.status}: only a failed refund is retried",
            field="data.refund_id",
            status=failed.status,
        )
    if any(r.retry_of == failed.refund_id for r in uow.ledger.for_order(order.order_id).refunds):
        raise NotAllowedInState(
            f"refund {cmd.refund_id} was retried already", field="data.refund_id"
        )
    state = order.payment_state()
    amount = min(failed.amount, state.credit_owed, state.captured - state.refunded)
    if amount <= 0:
        raise NotAllowedInState(
            f"nothing is owed on order {order.order_id} any more",
            credit_owed=str(state.credit_owed),
        )
    before = events.audit_state(order)
    again = refund(
        order, failed.credit_memo_id, amount, cmd.settle_to, ctx.now, ctx.ids, failed.refund_id
    )
    order.finish(ctx.now)
    uow.orders.save(order)
    uow.ledger.add_refund(again, ctx.command_id)
    if again.method == "store_credit":
        uow.ledger.add_store_credit(order.account_id, again, ctx.command_id)
    event: RefundRequested | RefundSettled = (
        RefundSettled(
            order_id=order.order_id, account_id=order.account_id, refund=refund_view(again)
        )
        if again.method == "store_credit"
        else RefundRequested(
            order_id=order.order_id,
            account_id=order.account_id,
            refund=refund_view(again),
            payment_reference=order.payment.reference,
        )
    )
    return Change(
        order.order_id,
        order.version,
        {"refund_id": again.refund_id, "amount": str(amount), "method": again.method},
        [event],
        [
            AuditEntry(
                "order", order.order_id, "refund.retried", before, events.audit_state(order)
            ),
            *events.store_credit_audit(order, [again]),
        ],
    )


def captured(msg: Captured, ctx: Context, uow: UnitOfWork) -> Change:
    order = locked(msg.order_id, uow)
    order.check_version(msg.expected_version)
    if msg.currency != order.currency:
        raise Invalid(
            f"order {order.order_id} is in {order.currency}, the capture in {msg.currency}",
            field="data.currency",
        )
    if not is_rounded(msg.amount, order.currency):
        raise Invalid(
            f"amount {msg.amount} has more decimals than {order.currency} allows",
            field="data.amount",
        )
    before = events.audit_state(order)
    order.record_capture(msg.amount)

    def describe() -> tuple[dict[str, Any], list[BaseModel]]:
        state = order.payment_state()
        money = {
            "captured": str(round_money(state.captured, order.currency)),
            "balance_due": str(round_money(state.balance_due, order.currency)),
        }
        return money, []

    return record_step(order, before, ctx, uow, describe)


def _requested(order: Order, refund_id: str, uow: UnitOfWork) -> Refund:
    refund = uow.ledger.refund(refund_id)
    if refund is None or refund.order_id != order.order_id:
        raise NotFound(f"order {order.order_id} has no refund {refund_id}", field="data.refund_id")
    if refund.status != "requested":
        raise NotAllowedInState(
            f"refund {refund_id} is {refund.status} already",
            field="data.refund_id",
            status=refund.status,
        )
    return refund


def _audit(order: Order, before: Refund, after: Refund) -> AuditEntry:
    return AuditEntry(
        "order",
        order.order_id,
        f"refund.{after.status}",
        {"refund_id": before.refund_id, "status": before.status},
        {"refund_id": after.refund_id, "status": after.status, "amount": str(after.amount),
         "failure_reason": after.failure_reason},
    )  # fmt: skip
