"""The two ends of every order command: lock the order, and record what it did.

A handler reads top to bottom: `lock` the order (checking the version the command was
written against), call the aggregate's method, `settle` when money moved, and `record`:
one version step, the order saved with its money documents, and the messages and audit
rows described from the events the order recorded. A preview records nothing and answers
with what would have been published.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.context import Change, Context
from services.errors import NotFound
from services.orders import changes, events
from services.orders.model import Order
from services.orders.settlement import Settlement
from services.ports import UnitOfWork


def lock(
    uow: UnitOfWork, order_id: str, expected_version: int | None = None, *, preview: bool = False
) -> tuple[Order, dict[str, Any]]:
    """The order, locked until the unit of work ends (read only for a preview), and its audit
    state as the command found it; or a rejection."""
    order = uow.orders.get(order_id) if preview else locked(order_id, uow)
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="data.order_id")
    order.check_version(expected_version)
    _baseline(order)
    return order, events.audit_state(order)


def locked(order_id: str, uow: UnitOfWork) -> Order:
    """The order, locked until the unit of work ends, or a rejection."""
    order = uow.orders.get_for_update(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="data.order_id")
    _baseline(order)
    return order


def _baseline(order: Order) -> None:
    """An order stored before OrderCare kept what the customer was told: take it as the
    command finds it, so that a suppressed change is not taken for one the customer knows."""
    if order.told is None:
        order.tell()


def record(
    order: Order, before: dict[str, Any], ctx: Context, uow: UnitOfWork, *, preview: bool = False
) -> Change:
    """One version step, then save the order and its money documents, and describe it."""
    order.finish(ctx.now)
    happened, pending = order.collect()
    described = events.describe(order, happened, pending, cause=ctx.command_type, before=before)
    if preview:
        return Change(
            order.order_id,
            pending.version,
            events.preview_result(order, pending, described.messages),
        )
    if ctx.notify_customer and changes.tells_customer(happened):
        order.tell()  # the events above compared with what the customer was told before
    uow.orders.save(order)
    if pending.settlement is not None:
        write_settlement(order, pending.settlement, ctx, uow)
    return Change(
        order.order_id, order.version, described.result, described.messages, described.audit
    )


def write_settlement(order: Order, settlement: Settlement, ctx: Context, uow: UnitOfWork) -> None:
    """A settlement's money documents: invoice, credit memos, refunds, store credit."""
    if settlement.invoice:
        uow.ledger.add_invoice(settlement.invoice, ctx.command_id)
    for memo in settlement.credit_memos:
        uow.ledger.add_credit_memo(memo, ctx.command_id)
    for made in settlement.refunds:
        # Its confirmation, later, is as quiet as the command that made it.
        refund = made if ctx.notify_customer else replace(made, notify_customer=False)
        uow.ledger.add_refund(refund, ctx.command_id)
        if refund.method == "store_credit":
            uow.ledger.add_store_credit(order.account_id, refund, ctx.command_id)
