"""The events an order change publishes, and the compact state the audit keeps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from contracts.fulfillment import FulfillmentChanged, FulfillmentLine
from contracts.orders import (
    AuthorizationReduced,
    BalanceDue,
    CreditMemoIssued,
    LineChange,
    OrderAmended,
    OrderCancelled,
    OrderCreated,
    OrderDeliveryChanged,
    RefundRequested,
    RefundSettled,
    SettlementView,
)
from services.context import AuditEntry
from services.ledger import Refund
from services.money import round_money
from services.orders.model import DeliveryInfo, Edited, Order
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


@dataclass(frozen=True, slots=True)
class Before:
    """An order as it was before a change: what events and audit compare against."""

    version: int
    priced: Priced
    audit: dict[str, Any]
    to_ship: dict[str, int]
    delivery: DeliveryInfo
    held: frozenset[str]

    @classmethod
    def of(cls, order: Order) -> Before:
        return cls(
            order.version,
            order.priced(),
            audit_state(order),
            {line.line_id: line.open_units for line in order.lines},
            order.delivery,
            frozenset(line.line_id for line in order.lines if line.hold),
        )


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
        refund_due=round_money(settlement.refund_due, currency),
        authorization_released=round_money(settlement.authorization_released, currency),
        balance_due=round_money(settlement.after.balance_due, currency),
    )


def changed_fields(
    order: Order, reason: str, before: Before, settlement: Settlement
) -> dict[str, Any]:
    """The fields every order change event shares."""
    new = order.priced()
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "version": order.version,
        "reason": reason,
        "old_totals": totals_view(before.priced),
        "new_totals": totals_view(new),
        "payment": payment_view(order.payment_state(new), order.currency),
        "settlement": settlement_view(order, settlement),
    }


def order_amended(
    order: Order, reason: str, edits: list[Edited], before: Before, settlement: Settlement
) -> OrderAmended:
    return OrderAmended(
        **changed_fields(order, reason, before, settlement),
        changes=[line_change(e) for e in edits],
        lines=lines_view(order, order.priced()),
    )


def order_delivery_changed(
    order: Order, reason: str, before: Before, settlement: Settlement
) -> OrderDeliveryChanged:
    old = before.delivery
    return OrderDeliveryChanged(
        **changed_fields(order, reason, before, settlement),
        old_delivery=delivery_view(old),
        new_delivery=delivery_view(order.delivery),
    )


def order_cancelled(
    order: Order,
    reason: str,
    scope: Literal["order", "unshipped", "lines"],
    edits: list[Edited],
    before: Before,
    settlement: Settlement,
) -> OrderCancelled:
    return OrderCancelled(
        **changed_fields(order, reason, before, settlement),
        scope=scope,
        status=order.status,
        changes=[line_change(e) for e in edits],
    )


def change_result(event: OrderAmended | OrderDeliveryChanged | OrderCancelled) -> dict[str, Any]:
    """What `command.accepted` says about an order change: new totals and the money."""
    return event.model_dump(mode="json", include={"new_totals", "payment", "settlement"})


def preview_result(order: Order, before: Before, produced: list[BaseModel]) -> dict[str, Any]:
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


def fulfillment_changed(order: Order, cause: str, before: Before) -> list[BaseModel]:
    """fulfillment.changed when the warehouse must pick, pack or send differently."""
    lines = [
        FulfillmentLine(
            line_id=line.line_id,
            sku=line.sku,
            name=line.name,
            to_ship=line.open_units,
            previously_to_ship=before.to_ship.get(line.line_id, 0),
            backordered=line.backordered,
            hold=line.hold,
        )
        for line in order.lines
        if line.open_units != before.to_ship.get(line.line_id, 0)
        or line.hold != (line.line_id in before.held)
    ]
    moved = order.delivery != before.delivery
    if not lines and not moved:
        return []
    return [
        FulfillmentChanged(
            order_id=order.order_id,
            version=order.version,
            cause=cause,
            lines=lines,
            delivery=delivery_view(order.delivery),
            delivery_changed=moved,
            cancelled=not any(line.open_units for line in order.lines),
        )
    ]


def settlement_audit(order: Order, settlement: Settlement) -> list[AuditEntry]:
    """Store credit granted shows in the account's audit trail too."""
    return store_credit_audit(order, settlement.refunds)


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
