"""Return and exchange handlers: authorise, receive and verify, decide, cancel, expire.

Each is an order change (`apply_change`): the order is locked, the return changes lines'
charged units, fees and replacement lines, and the difference settles as one netted
document (a credit memo that deducts fees, or an invoice and balance due).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from contracts.common import SettleTo
from contracts.returns import (
    CancelReturn,
    CreateReturn,
    DecideReturn,
    ExchangeCreated,
    ExpireReturn,
    ReturnAuthorized,
    ReturnCancelled,
    ReturnChanged,
    ReturnDecided,
    ReturnExpired,
    ReturnReceived,
    ReturnReceivedEvent,
)
from services.context import Change, Context
from services.errors import Invalid
from services.orders import returns
from services.orders.events import Before, changed_fields
from services.orders.handlers import apply_change
from services.orders.model import Line, Order
from services.orders.placing import catalog_price
from services.orders.returns import RETURN, Arrived, Requested, Return
from services.orders.settlement import Reason, Settlement
from services.orders.views import lines_view, return_view
from services.ports import UnitOfWork

#: The delivery method whose fee a prepaid return label costs.
LABEL_METHOD = "standard"


def deadline(order_id: str, return_id: str) -> str:
    """The sweeper's key of a return's due date."""
    return f"{order_id}/{return_id}"


def create_return(cmd: CreateReturn, ctx: Context, uow: UnitOfWork) -> Change:
    made: list[Return] = []

    def change(order: Order) -> dict[str, Reason]:
        rma = returns.authorize(
            order,
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
        made.append(rma)
        uow.deadlines.set("return", deadline(order.order_id, rma.return_id), order.order_id,
                          rma.return_by)  # fmt: skip
        return returns.reasons(order, rma)

    def describe(order: Order, before: Before, settlement: Settlement) -> ReturnChanged:
        rma = made[0]
        common = changed_fields(order, cmd.reason or "return", before, settlement)
        if not rma.exchange:
            return ReturnAuthorized(**common, rma=return_view(order, rma))
        new = set(rma.replacement_line_ids)
        return ExchangeCreated(
            **common,
            rma=return_view(order, rma),
            replacements=[v for v in lines_view(order, order.priced()) if v.line_id in new],
        )

    done = apply_change(
        cmd.order_id, ctx, uow, change, RETURN, describe,
        expected_version=cmd.expected_version, settle_to=cmd.settle_to, net=True,
    )  # fmt: skip
    main = done.events[0]
    if isinstance(main, ExchangeCreated):
        # An exchange is a return too: whoever prints labels or expects parcels hears of it.
        fields = main.model_dump(exclude={"replacements"})
        done.events.insert(0, ReturnAuthorized.model_validate(fields))
    return done


def _replacements(cmd: CreateReturn, order: Order, uow: UnitOfWork) -> list[tuple[str, Line]]:
    """The replacement lines, priced from the catalogue, each with the line it replaces."""
    if not cmd.replacements:
        return []
    asked = {r.line_id: r.quantity for r in cmd.lines}
    entries = uow.catalog.get_many({r.sku for r in cmd.replacements})
    taken = {line.line_id for line in order.lines}
    made = []
    for n, rep in enumerate(cmd.replacements):
        at = f"data.replacements.{n}"
        if rep.line_id not in asked:
            raise Invalid(
                f"a replacement for line {rep.line_id}, which the return does not include",
                field=f"{at}.line_id",
            )
        entry, price = catalog_price(rep.sku, order.currency, entries, f"{at}.sku")
        k = len(taken) + 1
        while f"l{k}" in taken:
            k += 1
        taken.add(f"l{k}")
        quantity = rep.quantity or asked[rep.line_id]
        made.append(
            (rep.line_id, Line(f"l{k}", rep.sku, entry.name, price, entry.tax_class, quantity))
        )
    return made


def return_received(msg: ReturnReceived, ctx: Context, uow: UnitOfWork) -> Change:
    def change(order: Order) -> dict[str, Reason]:
        rma = returns.find(order, msg.return_id)
        arrived = [
            Arrived(line.line_id, line.sku, unit.condition, unit.quantity)
            for line in msg.lines
            for unit in line.units
        ]
        reasons = returns.receive(
            order, rma, arrived, now=ctx.now, policy=ctx.policy, label_fee=_label_fee(order, uow)
        )
        uow.deadlines.clear("return", deadline(order.order_id, rma.return_id))
        return reasons

    return _return_change(
        msg.order_id, msg.return_id, ctx, uow, change, ReturnReceivedEvent, "return_received",
        msg.expected_version, _settle_to,
    )  # fmt: skip


def decide_return(cmd: DecideReturn, ctx: Context, uow: UnitOfWork) -> Change:
    def change(order: Order) -> dict[str, Reason]:
        rma = returns.find(order, cmd.return_id)
        decisions = [(d.line_id, d.condition, d.outcome, d.quantity) for d in cmd.decisions]
        return returns.decide(order, rma, decisions, ctx.policy, _label_fee(order, uow))

    return _return_change(
        cmd.order_id, cmd.return_id, ctx, uow, change, ReturnDecided, cmd.reason or "decided",
        cmd.expected_version, lambda _order, _id: cmd.settle_to,
    )  # fmt: skip


def cancel_return(cmd: CancelReturn, ctx: Context, uow: UnitOfWork) -> Change:
    def change(order: Order) -> dict[str, Reason]:
        rma = returns.find(order, cmd.return_id)
        reasons = returns.close_unreceived(order, rma, "cancelled", ctx.now)
        uow.deadlines.clear("return", deadline(order.order_id, rma.return_id))
        return reasons

    return _return_change(
        cmd.order_id, cmd.return_id, ctx, uow, change, ReturnCancelled,
        cmd.reason or "return_cancelled", cmd.expected_version, _settle_to,
    )  # fmt: skip


def expire_return(cmd: ExpireReturn, ctx: Context, uow: UnitOfWork) -> Change:
    def change(order: Order) -> dict[str, Reason]:
        rma = returns.find(order, cmd.return_id)
        reasons = returns.close_unreceived(order, rma, "expired", ctx.now)
        uow.deadlines.clear("return", deadline(order.order_id, rma.return_id))
        return reasons

    return _return_change(
        cmd.order_id, cmd.return_id, ctx, uow, change, ReturnExpired, "return_not_received",
        None, _settle_to,
    )  # fmt: skip


def _settle_to(order: Order, return_id: str) -> SettleTo:
    return returns.find(order, return_id).settle_to


def _return_change(
    order_id: str,
    return_id: str,
    ctx: Context,
    uow: UnitOfWork,
    change: Callable[[Order], dict[str, Reason]],
    event: type[ReturnChanged],
    reason: str,
    expected_version: int | None,
    settle_to: Callable[[Order, str], SettleTo],
) -> Change:
    def describe(order: Order, before: Before, settlement: Settlement) -> ReturnChanged:
        rma = returns.find(order, return_id)
        return event(
            **changed_fields(order, reason, before, settlement), rma=return_view(order, rma)
        )

    return apply_change(
        order_id, ctx, uow, change, RETURN, describe,
        expected_version=expected_version, settle_to=lambda order: settle_to(order, return_id),
        net=True,
    )  # fmt: skip


def _label_fee(order: Order, uow: UnitOfWork) -> Decimal:
    method = uow.reference.delivery_method(LABEL_METHOD)
    return method.fees.get(order.currency, Decimal(0)) if method else Decimal(0)
