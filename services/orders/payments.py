"""What the payment service reports: refunds settled or failed, money captured; and an
agent's retry of a declined refund."""

from __future__ import annotations

from dataclasses import replace

from contracts.orders import RefundSettled, RetryRefund
from contracts.payments import Captured, RefundConfirmed, RefundDeclined
from services.context import Change, Context
from services.errors import Invalid, NotAllowedInState, NotFound
from services.ledger import Refund
from services.money import is_rounded
from services.orders.events import refund_audit
from services.orders.model import Order
from services.orders.recording import lock, locked, record
from services.orders.views import refund_view
from services.ports import UnitOfWork


def refund_settled(msg: RefundConfirmed, ctx: Context, uow: UnitOfWork) -> Change:
    """The money reached the customer: the refund is settled; the order does not change."""
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
        [refund_audit(order, refund, settled)],
        # The refund of a change kept from the customer: its confirmation is kept too.
        notify_customer=refund.notify_customer,
    )


def refund_failed(msg: RefundDeclined, ctx: Context, uow: UnitOfWork) -> Change:
    """The money is owed again: it shows as credit owed on the order until it is settled."""
    order, before = lock(uow, msg.order_id, msg.expected_version)
    refund = _requested(order, msg.refund_id, uow)
    uow.ledger.update_refund(
        replace(refund, status="failed", failure_reason=msg.failure_reason), ctx.now
    )
    order.reverse_refund(refund, msg.failure_reason)
    return record(order, before, ctx, uow)


def retry_refund(cmd: RetryRefund, ctx: Context, uow: UnitOfWork) -> Change:
    """Pay out again what a declined refund left owed (the aggregate says how much)."""
    order, before = lock(uow, cmd.order_id, cmd.expected_version)
    failed = _refund_of(order, cmd.refund_id, uow)
    retried = any(
        r.retry_of == failed.refund_id for r in uow.ledger.for_order(order.order_id).refunds
    )
    order.retry_refund(failed, retried=retried, settle_to=cmd.settle_to, now=ctx.now, ids=ctx.ids)
    return record(order, before, ctx, uow)


def captured(msg: Captured, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, msg.order_id, msg.expected_version)
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
    order.record_capture(msg.amount, msg.capture_reference)
    return record(order, before, ctx, uow)


def _refund_of(order: Order, refund_id: str, uow: UnitOfWork) -> Refund:
    refund = uow.ledger.refund(refund_id)
    if refund is None or refund.order_id != order.order_id:
        raise NotFound(f"order {order.order_id} has no refund {refund_id}", field="data.refund_id")
    return refund


def _requested(order: Order, refund_id: str, uow: UnitOfWork) -> Refund:
    refund = _refund_of(order, refund_id, uow)
    if refund.status != "requested":
        raise NotAllowedInState(
            f"refund {refund_id} is {refund.status} already",
            field="data.refund_id",
            status=refund.status,
        )
    return refund
