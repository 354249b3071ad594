"""Which e-mail an event asks for, and the facts it carries: pure functions, no I/O.

`MAILINGS` is the one table from event type to kind. Each entry names the contract model
the event's `data` is read with and the function that picks the customer's facts out of
it (template data: strings, integers, lists and objects; amounts as decimal strings beside
their currency, never floats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.envelope import Envelope
from contracts.fulfillment import LineBackordered, LineShortPicked, OrderDelivered, OrderShipped
from contracts.orders import (
    CreditMemoLine,
    DeliveryView,
    LineChange,
    OrderAmended,
    OrderCancelled,
    OrderChanged,
    OrderCreated,
    OrderDeliveryChanged,
    RefundSettled,
    RefundView,
    ReturnLineView,
    Totals,
)
from contracts.returns import ReturnChanged, ReturnDecided, ReturnReceivedEvent

#: Why a notification is recorded without being sent.
SkipReason = Literal["suppressed_by_agent", "no_account", "no_email", "opted_out", "no_template"]

#: The envelope's CloudEvents extension attribute an agent's `notify_customer: false` sets.
NOTIFY_ATTRIBUTE = "notifycustomer"

Data = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Customer:
    """What the notifier knows of a billing account: who to write to, in which language."""

    account_id: str
    name: str
    email: str | None
    locale: str = "en"
    opted_out: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Planned:
    """One e-mail an event asks for: its kind and template data, or why it is not sent."""

    kind: str
    event_id: str
    event_type: str
    account_id: str
    order_id: str | None
    correlation_id: str | None
    locale: str
    data: Data = field(repr=False)  # personal data: kept out of reprs and logs
    skip: SkipReason | None = None


class InvalidEvent(ValueError):
    """The event is not what its contract says; the message names fields, never values."""


@dataclass(frozen=True, slots=True)
class Mailing:
    """An event type's e-mail: its kind, the contract of its data, and its template data."""

    kind: str
    model: type[BaseModel]
    facts: Callable[[Any], Data]


def _money(amount: Decimal, currency: str) -> Data:
    return {"amount": format(amount, "f"), "currency": currency}


def _item(name: str, sku: str, quantity: int) -> Data:
    return {"name": name, "sku": sku, "quantity": quantity}


def _totals(t: Totals) -> Data:
    parts = ("subtotal", "discounts", "shipping", "tax", "total")
    return {p: _money(getattr(t, p), t.currency) for p in parts}


def _delivery(d: DeliveryView) -> Data:
    return {"method": d.method, "address": d.address, "pickup_location_id": d.pickup_location_id}


def _refunds(refunds: list[RefundView]) -> list[Data]:
    return [{"amount": _money(r.amount, r.currency), "method": r.method} for r in refunds]


def _change(c: LineChange) -> Data:
    return {"action": c.action, "name": c.name, "sku": c.sku,
            "old_quantity": c.old_quantity, "new_quantity": c.new_quantity}  # fmt: skip


def _settled(e: OrderChanged | LineShortPicked) -> Data:
    """Old and new totals and what the change means for the customer's money."""
    currency = e.new_totals.currency
    return {
        "old_total": _money(e.old_totals.total, currency),
        "new_total": _money(e.new_totals.total, currency),
        "difference": _money(e.settlement.difference, currency),
        "refund_due": _money(e.settlement.refund_due, currency),
        "balance_due": _money(e.settlement.balance_due, currency),
        "refunds": _refunds(e.settlement.refunds),
    }


def _confirmed(e: OrderCreated) -> Data:
    items = [_item(x.name, x.sku, x.quantity) for x in e.lines if x.quantity > 0]
    return {"items": items, "totals": _totals(e.totals), "delivery": _delivery(e.delivery)}


def _amended(e: OrderAmended) -> Data:
    items = [_item(x.name, x.sku, x.quantity) for x in e.lines if x.quantity > 0]
    changes = [_change(c) for c in e.changes]
    return {"change": "items", "changes": changes, "items": items, **_settled(e)}


def _delivery_changed(e: OrderDeliveryChanged) -> Data:
    return {"change": "delivery", "old_delivery": _delivery(e.old_delivery),
            "new_delivery": _delivery(e.new_delivery), **_settled(e)}  # fmt: skip


def _cancelled(e: OrderCancelled) -> Data:
    items = [_item(c.name, c.sku, c.old_quantity - c.new_quantity) for c in e.changes]
    return {"scope": e.scope, "items": [i for i in items if i["quantity"] > 0], **_settled(e)}


def _short(e: LineShortPicked) -> Data:
    return {"item": _item(e.name, e.sku, e.quantity_short),
            "quantity_left": e.quantity_left, **_settled(e)}  # fmt: skip


def _backordered(e: LineBackordered) -> Data:
    return {"item": _item(e.name, e.sku, e.quantity), "expected_date": e.expected_date.isoformat()}


def _shipped(e: OrderShipped) -> Data:
    s = e.shipment
    return {"items": [_item(x.name, x.sku, x.quantity) for x in s.lines], "carrier": s.carrier,
            "tracking_number": s.tracking_number, "tracking_url": s.tracking_url,
            "shipped_at": _stamp(s.shipped_at)}  # fmt: skip


def _delivered(e: OrderDelivered) -> Data:
    items = [_item(x.name, x.sku, x.quantity) for x in e.lines]
    return {"items": items, "delivered_at": _stamp(e.delivered_at)}


def _refund_issued(e: RefundSettled) -> Data:
    r = e.refund
    return {"refund": _money(r.amount, r.currency), "method": r.method, "refund_id": r.refund_id}


def _return_received(e: ReturnChanged) -> Data:
    """What the warehouse found in the parcel, unit by unit, and what it means for the money.
    A manager's decision on units left to a person (`stage` "decided") is mailed alike."""
    rma = e.rma
    return {"return_id": rma.return_id, "exchange": rma.exchange, "status": rma.status,
            "stage": "decided" if isinstance(e, ReturnDecided) else "received",
            "items": [_returned(x) for x in rma.lines], **_return_money(e)}  # fmt: skip


def _returned(x: ReturnLineView) -> Data:
    return {
        "name": x.name or x.sku, "sku": x.sku, "quantity": x.quantity,
        "received": sum(c.quantity for c in x.received if c.condition != "missing"),
        "refunded": x.refunded, "refunded_less_fee": x.restocking_fee, "refused": x.refused,
        "missing": x.missing, "awaiting_decision": sum(c.quantity for c in x.awaiting_decision),
    }  # fmt: skip


def _return_money(e: ReturnChanged) -> Data:
    """The refund (or the balance the customer owes now), and the fees deducted from it."""
    s, currency = e.settlement, e.new_totals.currency
    kept = [x for memo in s.credit_memos for x in memo.lines if x.reason in _RETURN_FEES]
    return {
        "refund": _positive(s.refund_due, currency),
        "refund_method": _method(s.refunds),
        "deductions": [_deduction(x, currency) for x in kept if x.net + x.tax < 0],
        "charge_reduced": _positive(s.authorization_released, currency),
        "balance_due": _positive(s.balance_due, currency),
    }


def _deduction(x: CreditMemoLine, currency: str) -> Data:
    return {"reason": x.reason, "amount": _money(-(x.net + x.tax), currency)}


def _positive(amount: Decimal, currency: str) -> Data | None:
    return _money(amount, currency) if amount > 0 else None


#: Credit-memo line reasons of what a return keeps back from the refund.
_RETURN_FEES = ("restocking_fee", "return_shipping")


def _method(refunds: list[RefundView]) -> str | None:
    if not refunds:
        return None
    return (
        "store_credit" if all(r.method == "store_credit" for r in refunds) else "original_payment"
    )


def _stamp(at: datetime | date) -> str:
    return at.isoformat().replace("+00:00", "Z")


#: Event type -> its e-mail.
MAILINGS: dict[str, Mailing] = {
    OrderCreated.TYPE: Mailing("order_confirmed", OrderCreated, _confirmed),
    OrderAmended.TYPE: Mailing("order_changed", OrderAmended, _amended),
    OrderDeliveryChanged.TYPE: Mailing("order_changed", OrderDeliveryChanged, _delivery_changed),
    OrderCancelled.TYPE: Mailing("order_cancelled", OrderCancelled, _cancelled),
    LineShortPicked.TYPE: Mailing("item_short", LineShortPicked, _short),
    LineBackordered.TYPE: Mailing("item_backordered", LineBackordered, _backordered),
    OrderShipped.TYPE: Mailing("shipped", OrderShipped, _shipped),
    OrderDelivered.TYPE: Mailing("delivered", OrderDelivered, _delivered),
    RefundSettled.TYPE: Mailing("refund_issued", RefundSettled, _refund_issued),
    ReturnReceivedEvent.TYPE: Mailing("return_received", ReturnReceivedEvent, _return_received),
    # The outcome of units a parcel left to a person: the e-mail the first one promised.
    ReturnDecided.TYPE: Mailing("return_received", ReturnDecided, _return_received),
}

#: Event type -> kind, the table at a glance.
KINDS: dict[str, str] = {event_type: m.kind for event_type, m in MAILINGS.items()}


def account_of(envelope: dict[str, Any]) -> str | None:
    """The billing account an event is about, read before anything is validated."""
    data = envelope.get("data")
    account = data.get("account_id") if isinstance(data, dict) else None
    return account if isinstance(account, str) else None


def notifications_for(envelope: dict[str, Any], customer: Customer | None) -> list[Planned]:
    """The e-mails a CloudEvent asks for (none for a type nobody is mailed about), each with
    its template data, or with the reason it is recorded but not sent. Raises InvalidEvent."""
    mailing = MAILINGS.get(str(envelope.get("type")))
    if mailing is None:
        return []
    event = _read(Envelope, envelope, "")
    facts = _read(mailing.model, event.data, "data.")
    account_id = str(getattr(facts, "account_id", ""))
    order_id = getattr(facts, "order_id", None)
    data = {"kind": mailing.kind, "customer_name": customer.name if customer else "",
            "order_id": order_id, **mailing.facts(facts)}  # fmt: skip
    return [
        Planned(
            mailing.kind,
            event.id,
            event.type,
            account_id,
            order_id,
            event.correlationid,
            customer.locale if customer else "en",
            data,
            skip_reason(mailing.kind, event, customer),
        )
    ]


def skip_reason(kind: str, event: Envelope, customer: Customer | None) -> SkipReason | None:
    """Why an e-mail is not sent: the agent said so, no account or address, or opted out."""
    if not notify_customer(event):
        return "suppressed_by_agent"
    if customer is None:
        return "no_account"
    if not customer.email:
        return "no_email"
    if kind in customer.opted_out:
        return "opted_out"
    return None


def notify_customer(event: Envelope) -> bool:
    """The `notifycustomer` extension attribute; absent means true."""
    value = (event.model_extra or {}).get(NOTIFY_ATTRIBUTE, True)
    return not (value is False or (isinstance(value, str) and value.lower() == "false"))


def _read(model: type[M], value: Any, prefix: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        where = ", ".join(
            prefix + ".".join(str(p) for p in e["loc"]) + f" ({e['type']})"
            for e in exc.errors(include_input=False, include_url=False)[:5]
        )
        raise InvalidEvent(f"not a valid {model.__name__}: {where}") from None
