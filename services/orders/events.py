"""The events an order change publishes, and the compact state the audit keeps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel

from contracts.appeasements import DiscountedLine, OrderDiscounted
from contracts.fulfillment import (
    FulfillmentChanged,
    FulfillmentLine,
    LineBackordered,
    LineShortPicked,
    OrderDelivered,
    OrderShipped,
)
from contracts.orders import (
    AuthorizationReduced,
    BalanceDue,
    CreditMemoIssued,
    LineChange,
    OrderAmended,
    OrderCancelled,
    OrderCreated,
    OrderDeliveryChanged,
    PaymentCaptured,
    RefundRequested,
    RefundSettled,
    SettlementView,
    ToldLine,
    ToldView,
)
from contracts.orders import RefundFailed as RefundFailedEvent
from contracts.returns import (
    ExchangeCreated,
    ReturnAuthorized,
    ReturnCancelled,
    ReturnChanged,
    ReturnDecided,
    ReturnExpired,
    ReturnReceivedEvent,
)
from services.context import AuditEntry
from services.ledger import Refund
from services.money import round_money
from services.orders import changes
from services.orders.changes import OrderEvent
from services.orders.model import Edited, Order, Pending
from services.orders.settlement import Settlement
from services.orders.told import Told
from services.orders.views import (
    credit_memo_view,
    delivery_view,
    invoice_view,
    lines_view,
    payment_view,
    refund_view,
    return_view,
    shipment_lines,
    shipment_view,
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
        delivery=delivery_view(order.delivery),
        totals=totals_view(priced),
        payment=payment_view(order.payment_state(priced), order.currency),
        invoice_id=invoice_id,
    )


def line_change(edit: Edited) -> LineChange:
    return LineChange(
        action=edit.action,
        line_id=edit.line_id,
        sku=edit.sku,
        name=edit.name,
        old_quantity=edit.old_quantity,
        new_quantity=edit.new_quantity,
        old_unit_price=edit.old_unit_price,
        new_unit_price=edit.new_unit_price,
        price_override=edit.price_override,
        replaces=edit.replaces,
    )


def settlement_view(order: Order, settlement: Settlement) -> SettlementView:
    difference = settlement.difference
    direction: Literal["none", "decrease", "increase"] = (
        "none" if not difference else "decrease" if difference < 0 else "increase"
    )
    currency = order.currency
    return SettlementView(
        direction=direction,
        difference=round_money(difference, currency),
        credit_memos=[credit_memo_view(m) for m in settlement.credit_memos],
        refunds=[refund_view(r) for r in settlement.refunds],
        invoice_id=settlement.invoice.invoice_id if settlement.invoice else None,
        invoice=invoice_view(settlement.invoice) if settlement.invoice else None,
        refund_due=round_money(settlement.refund_due, currency),
        authorization_released=round_money(settlement.authorization_released, currency),
        balance_due=round_money(settlement.after.balance_due, currency),
    )


def changed_fields(
    order: Order, reason: str, before: Priced, settlement: Settlement
) -> dict[str, Any]:
    """The fields every order change event shares."""
    new = order.priced()
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "version": order.version,
        "reason": reason,
        "old_totals": totals_view(before),
        "new_totals": totals_view(new),
        "payment": payment_view(order.payment_state(new), order.currency),
        "settlement": settlement_view(order, settlement),
        "told": told_view(order.told),
    }


def told_view(told: Told | None) -> ToldView | None:
    """What the customer was last told (before this change), for the e-mail to compare with."""
    if told is None:
        return None
    lines = [
        ToldLine(line_id=line_id, sku=x.sku, name=x.name, quantity=x.quantity,
                 unit_price=x.unit_price)
        for line_id, x in told.lines.items()
    ]  # fmt: skip
    return ToldView(
        total=told.total,
        lines=lines,
        refunded=told.refunded,
        to_capture=told.to_capture,
        captured=told.captured,
    )


def change_result(event: OrderAmended | OrderDeliveryChanged | OrderCancelled) -> dict[str, Any]:
    """What `command.accepted` says about an order change: new totals and the money."""
    return event.model_dump(mode="json", include={"new_totals", "payment", "settlement"})


def preview_result(order: Order, before: Pending, produced: list[BaseModel]) -> dict[str, Any]:
    """A preview's answer: the would-be order and every event the change would publish."""
    priced = order.priced()
    return {
        "preview": True,
        "version": before.version,
        "lines": [v.model_dump(mode="json") for v in lines_view(order, priced)],
        "old_totals": totals_view(before.priced).model_dump(mode="json"),
        "new_totals": totals_view(priced).model_dump(mode="json"),
        "payment": payment_view(order.payment_state(priced), order.currency).model_dump(
            mode="json"
        ),
        "events": [
            {"type": getattr(e, "TYPE"), "data": e.model_dump(mode="json")}  # noqa: B009
            for e in produced
        ],
    }


def money_events(order: Order, settlement: Settlement) -> list[BaseModel]:
    """credit_memo.issued per memo; refund.requested for the payment service, refund.settled
    for store credit (settled at once); payment.balance_due when the customer owes more;
    payment.authorization_reduced when less is to be captured."""
    produced: list[BaseModel] = [
        CreditMemoIssued(
            order_id=order.order_id, account_id=order.account_id, credit_memo=credit_memo_view(m)
        )
        for m in settlement.credit_memos
    ]
    for refund in settlement.refunds:
        if refund.method == "original_payment":
            produced.append(
                RefundRequested(
                    order_id=order.order_id,
                    account_id=order.account_id,
                    refund=refund_view(refund),
                    payment_reference=order.payment.reference,
                )
            )
        else:
            produced.append(
                RefundSettled(
                    order_id=order.order_id, account_id=order.account_id, refund=refund_view(refund)
                )
            )
    currency = order.currency
    if settlement.balance_due_raised:
        produced.append(
            BalanceDue(
                order_id=order.order_id,
                account_id=order.account_id,
                currency=currency,
                balance_due=round_money(settlement.after.balance_due, currency),
                to_capture=round_money(settlement.after.to_capture, currency),
                invoice_id=settlement.invoice.invoice_id if settlement.invoice else None,
                payment_reference=order.payment.reference,
            )
        )
    if settlement.authorization_released > 0:
        produced.append(
            AuthorizationReduced(
                order_id=order.order_id,
                account_id=order.account_id,
                currency=currency,
                released=round_money(settlement.authorization_released, currency),
                to_capture=round_money(settlement.after.to_capture, currency),
                payment_reference=order.payment.reference,
            )
        )
    return produced


def store_credit_audit(order: Order, refunds: Iterable[Refund]) -> list[AuditEntry]:
    entries = []
    for refund in refunds:
        if refund.method != "store_credit":
            continue
        granted = {"store_credit": str(refund.amount), "currency": refund.currency,
                   "order_id": order.order_id, "refund_id": refund.refund_id}  # fmt: skip
        entries.append(
            AuditEntry("billing_account", order.account_id, "store_credit.granted", None, granted)
        )
    return entries


def audit_state(order: Order) -> dict[str, Any]:
    """The order's state as the audit trail keeps it: status, version, lines, money."""
    priced = order.priced()
    state: dict[str, Any] = {
        "status": order.status,
        "version": order.version,
        "lines": {line.line_id: [line.sku, line.quantity] for line in order.lines},
        "total": str(priced.total),
        "refunded": str(order.payment.refunded),
    }
    overrides = {ln.line_id: str(ln.unit_price) for ln in order.lines if ln.price_override}
    if overrides:
        state["price_overrides"] = overrides
    state["delivery"] = delivery_view(order.delivery).model_dump(mode="json", exclude_none=True)
    discounts = {
        ln.line_id: str(priced.line(ln.line_id).discount) for ln in order.lines if ln.discounts
    }
    if discounts:
        state["discounts"] = discounts
    returned = {ln.line_id: ln.returned for ln in order.lines if ln.returned}
    if returned:
        state["returned"] = returned
    if order.returns:
        state["returns"] = {r.return_id: r.status for r in order.returns}
    if order.charges:
        state["charges"] = {c.charge_id: str(c.net) for c in order.charges}
    return state


# --- from what the aggregate recorded to what OrderCare publishes and audits ------------------


@dataclass(frozen=True, slots=True)
class Described:
    """A command's answer, its messages and its audit rows."""

    result: dict[str, Any]
    messages: list[BaseModel]
    audit: list[AuditEntry]


def describe(
    order: Order,
    happened: list[OrderEvent],
    pending: Pending,
    *,
    cause: str,
    before: dict[str, Any],
) -> Described:
    """The messages and audit of one command, from the events the order recorded (after its
    version step): the command's own event first, then the money it moved, then what the
    warehouse must now do differently. `before` is the audit state as the command found it."""
    main, *rest = happened
    result, messages, action = _main(order, main, pending, cause)
    after = audit_state(order)
    edits = getattr(messages[-1], "changes", None) if messages else None
    if edits:
        after["changes"] = [e.model_dump(mode="json", exclude_defaults=True) for e in edits]
    audit = [AuditEntry("order", order.order_id, action, before, after)]
    for event in rest:
        if isinstance(event, changes.Settled):
            messages.extend(money_events(order, event.settlement))
            audit.extend(store_credit_audit(order, event.settlement.refunds))
        elif isinstance(event, changes.FulfilmentChanged):
            messages.append(_fulfilment(order, event, cause))
    if isinstance(main, changes.RefundFailed):
        audit = [refund_audit(order, main.refund, _failed(main))]
    return Described(result, messages, audit)


def _main(
    order: Order, event: OrderEvent, pending: Pending, cause: str
) -> tuple[dict[str, Any], list[BaseModel], str]:
    """The command's own event: (result, messages, audit action)."""
    if isinstance(event, changes.Backordered):
        line = order.line(event.line_id)
        backordered = LineBackordered(
            order_id=order.order_id, account_id=order.account_id, version=order.version,
            line_id=line.line_id, sku=line.sku, name=line.name, quantity=event.quantity,
            expected_date=event.expected, warehouse=event.warehouse,
        )  # fmt: skip
        return {"line_id": line.line_id, "backordered": line.backordered}, [backordered], cause
    if isinstance(event, changes.Shipped):
        shipped = OrderShipped(
            order_id=order.order_id, account_id=order.account_id, version=order.version,
            status=order.status, shipment=shipment_view(order, event.shipment),
        )  # fmt: skip
        return _status(order, event.shipment.shipment_id), [shipped], cause
    if isinstance(event, changes.Delivered):
        delivered = OrderDelivered(
            order_id=order.order_id, account_id=order.account_id, version=order.version,
            status=order.status, shipment_id=event.shipment.shipment_id,
            lines=shipment_lines(order, event.shipment), delivered_at=event.at,
        )  # fmt: skip
        return _status(order, event.shipment.shipment_id), [delivered], cause
    if isinstance(event, changes.Captured):
        state = order.payment_state()
        money = {
            "captured": str(round_money(state.captured, order.currency)),
            "balance_due": str(round_money(state.balance_due, order.currency)),
        }
        captured = PaymentCaptured(
            order_id=order.order_id, account_id=order.account_id, version=order.version,
            currency=order.currency, amount=round_money(event.amount, order.currency),
            capture_reference=event.reference,
            payment=payment_view(state, order.currency),
        )  # fmt: skip
        return money, [captured], cause
    if isinstance(event, changes.RefundFailed):
        failed = _failed(event)
        owed = round_money(order.payment_state().credit_owed, order.currency)
        message = RefundFailedEvent(
            order_id=order.order_id, account_id=order.account_id, refund=refund_view(failed),
            failure_reason=event.reason, credit_owed=owed,
        )  # fmt: skip
        result = {"refund_id": failed.refund_id, "status": "failed", "credit_owed": str(owed)}
        return result, [message], "refund.failed"
    if isinstance(event, changes.RefundRetried):
        made = event.refund
        result = {"refund_id": made.refund_id, "amount": str(made.amount), "method": made.method}
        return result, [], "refund.retried"
    settlement = pending.settlement
    assert settlement is not None, f"{type(event).__name__} is a money change: it settles"
    messages = _changed(order, event, pending.priced, settlement)
    main = messages[-1]
    return main.model_dump(mode="json", include=_RESULT), messages, getattr(main, "TYPE")  # noqa: B009


#: What `command.accepted` says about an order change: new totals and the money.
_RESULT = {"new_totals", "payment", "settlement"}


def _changed(
    order: Order, event: OrderEvent, before: Priced, settlement: Settlement
) -> list[BaseModel]:
    """The event of a change that moved money (the last one is the command's own)."""
    if isinstance(event, changes.Amended):
        return [
            OrderAmended(
                **changed_fields(order, event.reason, before, settlement),
                changes=[line_change(e) for e in event.edits],
                lines=lines_view(order, order.priced()),
            )
        ]
    if isinstance(event, changes.Cancelled):
        return [
            OrderCancelled(
                **changed_fields(order, event.reason, before, settlement),
                scope=event.scope,
                status=order.status,
                changes=[line_change(e) for e in event.edits],
                lines=lines_view(order, order.priced()),
            )
        ]
    if isinstance(event, changes.DeliveryChanged):
        return [
            OrderDeliveryChanged(
                **changed_fields(order, event.reason, before, settlement),
                old_delivery=delivery_view(event.old),
                new_delivery=delivery_view(order.delivery),
                lines=lines_view(order, order.priced()),
            )
        ]
    if isinstance(event, changes.ShortPicked):
        line = order.line(event.line_id)
        new = order.priced()
        return [
            LineShortPicked(
                order_id=order.order_id, account_id=order.account_id, version=order.version,
                line_id=line.line_id, sku=line.sku, name=line.name,
                quantity_short=event.quantity, quantity_left=event.left,
                warehouse=event.warehouse, why=event.why,
                old_totals=totals_view(before), new_totals=totals_view(new),
                payment=payment_view(order.payment_state(new), order.currency),
                settlement=settlement_view(order, settlement),
                lines=lines_view(order, new), told=told_view(order.told),
            )
        ]  # fmt: skip
    if isinstance(event, changes.Discounted):
        return [
            OrderDiscounted(
                **changed_fields(order, event.reason, before, settlement),
                appeasement_id=event.reference,
                line_id=event.line_id,
                discount=event.amount,
                lines=[
                    DiscountedLine(line_id=ln.line_id, sku=ln.sku, name=ln.name, discount=share)
                    for ln in order.lines
                    if (share := event.shares.get(ln.line_id)) is not None
                ],
            )
        ]
    assert isinstance(event, changes.ReturnStep), type(event).__name__
    return _return_step(order, event, before, settlement)


_RETURN_EVENTS: dict[str, type[ReturnChanged]] = {
    "authorized": ReturnAuthorized,
    "received": ReturnReceivedEvent,
    "decided": ReturnDecided,
    "cancelled": ReturnCancelled,
    "expired": ReturnExpired,
}


def _return_step(
    order: Order, event: changes.ReturnStep, before: Priced, settlement: Settlement
) -> list[BaseModel]:
    rma = order.find_return(event.return_id)
    common = changed_fields(order, event.reason, before, settlement)
    authorized = _RETURN_EVENTS[event.step](**common, rma=return_view(order, rma))
    if event.step != "authorized" or not rma.exchange:
        return [authorized]
    # An exchange is a return too: whoever prints labels or expects parcels hears of it.
    new = set(rma.replacement_line_ids)
    exchange = ExchangeCreated(
        **common,
        rma=return_view(order, rma),
        replacements=[v for v in lines_view(order, order.priced()) if v.line_id in new],
    )
    return [authorized, exchange]


def _fulfilment(order: Order, event: changes.FulfilmentChanged, cause: str) -> FulfillmentChanged:
    """fulfillment.changed: the lines the warehouse must pick, pack or send differently."""
    lines = [
        FulfillmentLine(
            line_id=line.line_id,
            sku=line.sku,
            name=line.name,
            to_ship=line.open_units,
            previously_to_ship=event.to_ship[line.line_id],
            backordered=line.backordered,
            hold=line.hold,
        )
        for line in order.lines
        if line.line_id in event.to_ship
        and (
            line.open_units != event.to_ship[line.line_id] or line.hold != event.held[line.line_id]
        )
    ]
    return FulfillmentChanged(
        order_id=order.order_id,
        version=order.version,
        cause=cause,
        lines=lines,
        delivery=delivery_view(order.delivery),
        delivery_changed=event.delivery_moved,
        cancelled=not any(line.open_units for line in order.lines),
    )


def _status(order: Order, shipment_id: str) -> dict[str, Any]:
    return {"status": order.status, "shipment_id": shipment_id}


def _failed(event: changes.RefundFailed) -> Refund:
    return replace(event.refund, status="failed", failure_reason=event.reason)


def refund_audit(order: Order, before: Refund, after: Refund) -> AuditEntry:
    """A refund's status change, in the order's audit trail."""
    return AuditEntry(
        "order",
        order.order_id,
        f"refund.{after.status}",
        {"refund_id": before.refund_id, "status": before.status},
        {"refund_id": after.refund_id, "status": after.status, "amount": str(after.amount),
         "failure_reason": after.failure_reason},
    )  # fmt: skip
