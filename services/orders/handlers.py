"""Order command and query handlers: load, call one aggregate method, record."""

from __future__ import annotations

from typing import Any

from contracts.orders import CancelOrder, CreateOrder, GetOrder, OrderCancelled, OrderCreated
from services.errors import AlreadyExists, NotAllowedInState, NotFound
from services.handling import AuditEntry, Change, Context
from services.money import check_currency
from services.orders import events
from services.orders.model import Order
from services.orders.placing import build_lines, payment_facts, resolve_delivery
from services.orders.settlement import Settlement
from services.orders.views import order_view
from services.ports import UnitOfWork


def create_order(cmd: CreateOrder, ctx: Context, uow: UnitOfWork) -> Change:
    check_currency(cmd.currency)
    account = uow.accounts.get(cmd.account_id)
    if account is None:
        raise NotFound(f"billing account {cmd.account_id} does not exist", field="data.account_id")
    if account.status != "active":
        raise NotAllowedInState(f"billing account {cmd.account_id} is {account.status}")
    delivery = resolve_delivery(cmd.delivery, cmd.currency, uow.reference)
    lines = build_lines(cmd, uow.catalog.get_many({line.sku for line in cmd.lines}))
    order, invoice = Order.place(
        order_id=cmd.order_id or ctx.ids("ord"),
        account_id=account.account_id,
        currency=cmd.currency,
        lines=lines,
        delivery=delivery,
        tax_rates=uow.reference.tax_rates(delivery.country),
        payment=payment_facts(cmd),
        invoice_id=ctx.ids("inv"),
        now=ctx.now,
    )
    if not uow.orders.add(order):
        raise AlreadyExists(f"order {order.order_id} already exists", field="data.order_id")
    uow.ledger.add_invoice(invoice, ctx.command_id)
    created: OrderCreated = events.order_created(order, invoice.invoice_id)
    return Change(
        order.order_id,
        order.version,
        {"order_id": order.order_id, "totals": created.totals.model_dump(mode="json")},
        [created],
        [AuditEntry("order", order.order_id, "order.created", None, events.audit_state(order))],
    )


def cancel_order(cmd: CancelOrder, ctx: Context, uow: UnitOfWork) -> Change:
    order = _locked(cmd.order_id, uow)
    order.check_version(cmd.expected_version)
    before, old_totals = events.audit_state(order), order.priced()
    settlement = order.cancel(reason=cmd.reason, settle_to=cmd.settle_to, now=ctx.now, ids=ctx.ids)
    uow.orders.save(order)
    record_settlement(order, settlement, ctx, uow)
    cancelled: OrderCancelled = events.order_cancelled(order, cmd.reason, old_totals, settlement)
    return Change(
        order.order_id,
        order.version,
        events.cancel_result(cancelled),
        [cancelled, *events.settlement_events(order, settlement)],
        [
            AuditEntry(
                "order", order.order_id, "order.cancelled", before, events.audit_state(order)
            ),
            *events.settlement_audit(order, settlement),
        ],
    )


def get_order(query: GetOrder, uow: UnitOfWork) -> dict[str, Any]:
    order = uow.orders.get(query.order_id)
    if order is None:
        raise NotFound(f"order {query.order_id} does not exist", field="data.order_id")
    return order_view(order, uow.ledger.for_order(order.order_id)).model_dump(mode="json")


def record_settlement(order: Order, settlement: Settlement, ctx: Context, uow: UnitOfWork) -> None:
    """Write a settlement's money documents: the credit memo, the refund, the store credit."""
    if settlement.credit_memo:
        uow.ledger.add_credit_memo(settlement.credit_memo, ctx.command_id)
    refund = settlement.refund
    if refund:
        uow.ledger.add_refund(refund, ctx.command_id)
        if refund.method == "store_credit":
            uow.ledger.add_store_credit(order.account_id, refund, ctx.command_id)


def _locked(order_id: str, uow: UnitOfWork) -> Order:
    order = uow.orders.get_for_update(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="data.order_id")
    return order
