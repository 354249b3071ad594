"""Return and exchange handlers: authorise, receive and verify, decide, cancel, expire.

Each is an order change: lock, the aggregate's return method, settle (one netted document:
a credit memo that deducts fees, or an invoice and balance due), record. The sweeper's due
date of each open return is kept beside it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from contracts.returns import CancelReturn, CreateReturn, DecideReturn, ExpireReturn, ReturnReceived
from services.context import Change, Context
from services.errors import Invalid
from services.orders.model import Line, Order
from services.orders.placing import catalog_price
from services.orders.recording import lock, record
from services.orders.returns import Arrived, Requested
from services.ports import UnitOfWork

#: The delivery method whose fee a prepaid return label costs.
LABEL_METHOD = "standard"


def deadline(order_id: str, return_id: str) -> str:
    """The sweeper's key of a return's due date."""
    return f"{order_id}/{return_id}"


def create_return(cmd: CreateReturn, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, cmd.order_id, cmd.expected_version)
    rma = order.authorize_return(
        return_id=cmd.return_id or ctx.ids("rma"),
        requested=[Requested(r.line_id, r.quantity, r.reason) for r in cmd.lines],
        method=cmd.method,
        replacements=_replacements(cmd, order, uow),
        override_window=cmd.override_window,
        role=ctx.actor.role,
        why=cmd.reason,
        settle_to=cmd.settle_to,
        now=ctx.now,
        policy=ctx.policy,
    )
    uow.deadlines.set("return", deadline(order.order_id, rma.return_id), order.order_id,
                      rma.return_by)  # fmt: skip
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


def return_received(msg: ReturnReceived, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, msg.order_id, msg.expected_version)
    arrived = [
        Arrived(line.line_id, line.sku, unit.condition, unit.quantity)
        for line in msg.lines
        for unit in line.units
    ]
    order.receive_return(
        msg.return_id, arrived, now=ctx.now, policy=ctx.policy, label_fee=_label_fee(order, uow)
    )
    rma = order.find_return(msg.return_id)
    if not rma.expecting:  # else the sweeper still expires what no parcel brought
        uow.deadlines.clear("return", deadline(order.order_id, msg.return_id))
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


def decide_return(cmd: DecideReturn, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, cmd.order_id, cmd.expected_version)
    order.decide_return(
        cmd.return_id,
        [(d.line_id, d.condition, d.outcome, d.quantity) for d in cmd.decisions],
        reason=cmd.reason or "decided",
        settle_to=cmd.settle_to,
        policy=ctx.policy,
        label_fee=_label_fee(order, uow),
    )
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


def cancel_return(cmd: CancelReturn, ctx: Context, uow: UnitOfWork) -> Change:
    reason = cmd.reason or "return_cancelled"
    return _close(cmd.order_id, cmd.return_id, "cancelled", reason, cmd.expected_version, ctx, uow)


def expire_return(cmd: ExpireReturn, ctx: Context, uow: UnitOfWork) -> Change:
    return _close(cmd.order_id, cmd.return_id, "expired", "return_not_received", None, ctx, uow)


def _close(
    order_id: str,
    return_id: str,
    status: Literal["cancelled", "expired"],
    reason: str,
    expected_version: int | None,
    ctx: Context,
    uow: UnitOfWork,
) -> Change:
    """A return nothing of which arrived ends: cancelled by an agent or expired by the sweeper."""
    order, before = lock(uow, order_id, expected_version)
    order.close_return(return_id, status, reason, ctx.now, ctx.policy)
    uow.deadlines.clear("return", deadline(order_id, return_id))
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


def _replacements(cmd: CreateReturn, order: Order, uow: UnitOfWork) -> list[tuple[str, Line]]:
    """The replacement lines, priced from the catalogue, each with the line it replaces."""
    if not cmd.replacements:
        return []
    asked = {r.line_id: r.quantity for r in cmd.lines}
    entries = uow.catalog.get_many({r.sku for r in cmd.replacements})
    taken: set[str] = set()
    made = []
    for n, rep in enumerate(cmd.replacements):
        at = f"data.replacements.{n}"
        if rep.line_id not in asked:
            raise Invalid(
                f"a replacement for line {rep.line_id}, which the return does not include",
                field=f"{at}.line_id",
            )
        entry, price = catalog_price(rep.sku, order.currency, entries, f"{at}.sku")
        line_id = order.next_line_id(taken)
        taken.add(line_id)
        quantity = rep.quantity or asked[rep.line_id]
        made.append(
            (rep.line_id, Line(line_id, rep.sku, entry.name, price, entry.tax_class, quantity))
        )
    return made


def _label_fee(order: Order, uow: UnitOfWork) -> Decimal:
    method = uow.reference.delivery_method(LABEL_METHOD)
    return method.fees.get(order.currency, Decimal(0)) if method else Decimal(0)
